package testenv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KplexConnectProcess is a `kplex connect` run as a user would run it.
type KplexConnectProcess struct {
	mu       sync.Mutex
	out      bytes.Buffer
	errLines []string
	cancel   context.CancelFunc
	outDone  chan struct{}
}

// StartKplexConnect runs kplex with args (global flags, then connect NAME and
// its flags) and returns once kplex says it forwards a port (it then keeps
// running until Stop) or has exited successfully.
func StartKplexConnect(ctx context.Context, kplexBin string, args ...string) (*KplexConnectProcess, error) {
	ctx, cancel := context.WithCancel(ctx)
	p := &KplexConnectProcess{cancel: cancel, outDone: make(chan struct{})}
	cmd := exec.CommandContext(ctx, kplexBin, args...)
	stdout, serr := cmd.StdoutPipe()
	stderr, eerr := cmd.StderrPipe()
	if serr != nil || eerr != nil {
		cancel()
		return nil, fmt.Errorf("kplex %s: pipes: %v %v", strings.Join(args, " "), serr, eerr)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start kplex %s: %w", strings.Join(args, " "), err)
	}
	go func() {
		defer close(p.outDone)
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	forwarding := make(chan struct{})
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		s := bufio.NewScanner(stderr)
		signalled := false
		for s.Scan() {
			p.mu.Lock()
			p.errLines = append(p.errLines, s.Text())
			p.mu.Unlock()
			if !signalled && strings.Contains(s.Text(), "forwarding 127.0.0.1:") {
				signalled = true
				close(forwarding)
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	waited := make(chan error, 1)
	go func() {
		<-p.outDone
		<-errDone
		waited <- cmd.Wait()
	}()
	select {
	case <-forwarding:
		return p, nil
	case err := <-waited:
		if err == nil {
			return p, nil
		}
		return nil, p.fail(fmt.Errorf("kplex %s: %w", strings.Join(args, " "), err))
	case <-ctx.Done():
		return nil, p.fail(ctx.Err())
	}
}

// fail stops the process and adds what it said on stderr to err.
func (p *KplexConnectProcess) fail(err error) error {
	p.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Errorf("%w: %s", err, strings.Join(p.errLines, "; "))
}

// Stdout is what kplex printed so far.
func (p *KplexConnectProcess) Stdout() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.out.Bytes()...)
}

// Stop ends the process (and its port-forward).
func (p *KplexConnectProcess) Stop() {
	p.cancel()
	<-p.outDone
}

// KplexConnect runs `kplex [globalArgs] connect NAME --print` and returns a
// client config for the printed kubeconfig; it works until stop is called.
// Used by the e2e tests and by make demo.
func KplexConnect(ctx context.Context, kplexBin, name string, globalArgs ...string) (cfg *rest.Config, stop func(), err error) {
	p, err := StartKplexConnect(ctx, kplexBin, append(append([]string{}, globalArgs...), "connect", name, "--print")...)
	if err != nil {
		return nil, nil, err
	}
	// kplex writes the kubeconfig before the forwarding line; the reader may lag.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		data := p.Stdout()
		if kc, err := clientcmd.Load(data); err == nil && kc.CurrentContext != "" {
			if cfg, err = clientcmd.RESTConfigFromKubeConfig(data); err != nil {
				return nil, nil, p.fail(err)
			}
			return cfg, p.Stop, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, p.fail(fmt.Errorf("kplex connect %s --print: no kubeconfig printed", name))
		}
	}
}

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

// KplexConnect runs `kplex [globalArgs] connect NAME --print` as a user would
// and returns a client config for the printed kubeconfig. When kplex
// port-forwards to the virtual cluster (it says so on stderr and keeps
// running), the config works until stop is called; stop ends the process.
// Used by the e2e tests and by make demo.
func KplexConnect(ctx context.Context, kplexBin, name string, globalArgs ...string) (cfg *rest.Config, stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	args := append(append([]string{}, globalArgs...), "connect", name, "--print")
	cmd := exec.CommandContext(ctx, kplexBin, args...)
	stdout, serr := cmd.StdoutPipe()
	stderr, eerr := cmd.StderrPipe()
	if serr != nil || eerr != nil {
		cancel()
		return nil, nil, fmt.Errorf("kplex connect %s: pipes: %v %v", name, serr, eerr)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("start kplex connect %s: %w", name, err)
	}
	var (
		mu       sync.Mutex
		out      bytes.Buffer
		errLines []string
	)
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
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
			mu.Lock()
			errLines = append(errLines, s.Text())
			mu.Unlock()
			if !signalled && strings.Contains(s.Text(), "forwarding 127.0.0.1:") {
				signalled = true
				close(forwarding)
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	waited := make(chan error, 1)
	go func() {
		<-outDone
		<-errDone
		waited <- cmd.Wait()
	}()
	stop = func() {
		cancel()
		<-outDone
	}
	fail := func(err error) (*rest.Config, func(), error) {
		stop()
		mu.Lock()
		defer mu.Unlock()
		return nil, nil, fmt.Errorf("kplex connect %s: %w: %s", name, err, strings.Join(errLines, "; "))
	}
	select {
	case <-forwarding:
	case err := <-waited:
		if err != nil {
			return fail(err)
		}
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	// kplex writes the kubeconfig before the forwarding line; the reader may lag.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		data := append([]byte(nil), out.Bytes()...)
		mu.Unlock()
		if kc, err := clientcmd.Load(data); err == nil && kc.CurrentContext != "" {
			if cfg, err = clientcmd.RESTConfigFromKubeConfig(data); err != nil {
				return fail(err)
			}
			return cfg, stop, nil
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("no kubeconfig printed"))
		}
	}
}

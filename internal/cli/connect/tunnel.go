package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// tunnel keeps one local address open for the whole run of kplex connect and gives each
// local connection a port-forward of its own, to the control-plane pod ready at that
// moment. client-go ends a port-forward, with every connection it carries, at the first
// error of any one of them (a connection that the API server closed while the pod still
// wrote to it is enough, and the end of a kubectl exec causes one); a port-forward per
// connection confines that to the connection that failed, so kubectl's long-lived HTTP/2
// connection survives an exec. The pod also changes when the control plane restarts or
// wakes: each new connection finds the pod ready then, and waits for one.
type tunnel struct {
	l      net.Listener
	start  func(ctx context.Context) (*forwarding, error)
	errOut io.Writer
	pod    string // the pod of the first port-forward, for the message
	// wait bounds how long a new connection waits for a port-forward to start.
	wait time.Duration

	mu      sync.Mutex
	lastErr string // the last failure reported, so that a repeated one is said once
}

// retryBackoff bounds the pause between failed starts of a connection's port-forward.
const retryBackoff = 2 * time.Second

// openTunnel starts one port-forward to check that forwarding works (its error is
// returned: nothing listens yet), then listens on a free port of 127.0.0.1. The tunnel
// serves until ctx ends.
func openTunnel(ctx context.Context, start func(ctx context.Context) (*forwarding, error), errOut io.Writer) (*tunnel, error) {
	fctx, cancel := context.WithCancel(ctx)
	fw, err := start(fctx)
	cancel()
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	t := &tunnel{l: l, start: start, errOut: errOut, pod: fw.Pod, wait: 30 * time.Second}
	context.AfterFunc(ctx, func() { l.Close() })
	go t.serve(ctx)
	return t, nil
}

// LocalPort is the port the kubeconfig points at.
func (t *tunnel) LocalPort() int { return t.l.Addr().(*net.TCPAddr).Port }

// Pod is the pod the first port-forward reached.
func (t *tunnel) Pod() string { return t.pod }

// serve accepts local connections until the listener closes.
func (t *tunnel) serve(ctx context.Context) {
	for {
		c, err := t.l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(50 * time.Millisecond) // out of descriptors: wait, as net/http does
			continue
		}
		go t.pass(ctx, c)
	}
}

// pass relays c through a port-forward of its own, which ends with it.
func (t *tunnel) pass(ctx context.Context, c net.Conn) {
	defer c.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the connection's port-forward
	fw, err := t.forward(ctx)
	if err != nil {
		return
	}
	var d net.Dialer
	b, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(fw.LocalPort))))
	if err != nil {
		return
	}
	defer b.Close()
	// The first direction to end, or the port-forward's end, closes both (the deferred
	// Closes): a TLS client never half-closes, and a dead port-forward must not leave the
	// client waiting.
	done := make(chan struct{}, 2)
	relay := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go relay(b, c)
	go relay(c, b)
	select {
	case <-done:
	case <-fw.Done:
	case <-ctx.Done():
	}
}

// forward starts a port-forward for one connection, retrying for up to t.wait while the
// control plane has no ready pod (a restart, a wake). The port-forward lives as long as
// ctx: the retries have a deadline of their own.
func (t *tunnel) forward(ctx context.Context) (*forwarding, error) {
	deadline := time.NewTimer(t.wait)
	defer deadline.Stop()
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, retryBackoff) {
		fw, err := t.start(ctx)
		if err == nil {
			t.report(nil)
			return fw, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		t.report(err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-deadline.C:
			return nil, err
		case <-time.After(delay):
		}
	}
}

// report says a failure once however many connections meet it (a sleeping tenant fails
// the same way for minutes), and that forwarding works again after one.
func (t *tunnel) report(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err == nil && t.lastErr != "":
		fmt.Fprintf(t.errOut, "forwarding 127.0.0.1:%d works again\n", t.LocalPort())
		t.lastErr = ""
	case err != nil && err.Error() != t.lastErr:
		fmt.Fprintf(t.errOut, "forwarding a connection failed, retrying: %v\n", err)
		t.lastErr = err.Error()
	}
}

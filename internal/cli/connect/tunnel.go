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

// tunnel keeps one local address open for the whole run of kplex connect and passes each
// connection to the port-forward that runs at that moment. client-go ends a port-forward
// at the first error of any one of its connections (a connection that the API server
// closed while the pod still wrote to it is enough, and the end of every kubectl exec
// causes one), and the control plane's pod changes when it restarts or wakes: so the
// tunnel starts a new port-forward, to the pod ready then, whenever one ends, and the
// kubeconfig's address never changes.
type tunnel struct {
	l      net.Listener
	start  func(ctx context.Context) (*forwarding, error)
	errOut io.Writer
	// wait bounds how long a new connection waits for a port-forward to run.
	wait time.Duration

	mu    sync.Mutex
	cur   *forwarding   // nil while none runs
	ready chan struct{} // closed once cur is set
}

// restartBackoff bounds the pause between failed starts of a port-forward.
const restartBackoff = 5 * time.Second

// openTunnel starts the first port-forward (its error is returned: nothing listens yet)
// and listens on a free port of 127.0.0.1. The tunnel serves until ctx ends.
func openTunnel(ctx context.Context, start func(ctx context.Context) (*forwarding, error), errOut io.Writer) (*tunnel, error) {
	fw, err := start(ctx)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	t := &tunnel{l: l, start: start, errOut: errOut, wait: 30 * time.Second, ready: make(chan struct{})}
	t.set(fw)
	context.AfterFunc(ctx, func() { l.Close() })
	go t.keep(ctx, fw)
	go t.serve(ctx)
	return t, nil
}

// LocalPort is the port the kubeconfig points at.
func (t *tunnel) LocalPort() int { return t.l.Addr().(*net.TCPAddr).Port }

// Pod is the pod the current port-forward reaches, "" while none runs.
func (t *tunnel) Pod() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == nil {
		return ""
	}
	return t.cur.Pod
}

func (t *tunnel) set(fw *forwarding) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur = fw
	if fw != nil {
		close(t.ready)
	} else {
		t.ready = make(chan struct{})
	}
}

// keep starts a new port-forward whenever the current one ends, until ctx ends.
func (t *tunnel) keep(ctx context.Context, fw *forwarding) {
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case err = <-fw.Done:
		}
		t.set(nil)
		fmt.Fprintf(t.errOut, "port-forward to pod %s ended (%v): forwarding again\n", fw.Pod, err)
		last := ""
		for delay := 250 * time.Millisecond; ; delay = min(2*delay, restartBackoff) {
			if fw, err = t.start(ctx); err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			if err.Error() != last { // a sleeping tenant fails the same way for minutes
				fmt.Fprintf(t.errOut, "forwarding again failed, retrying: %v\n", err)
				last = err.Error()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
		t.set(fw)
		fmt.Fprintf(t.errOut, "forwarding 127.0.0.1:%d to pod %s again\n", t.LocalPort(), fw.Pod)
	}
}

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

// pass relays c to the current port-forward, waiting for one to run.
func (t *tunnel) pass(ctx context.Context, c net.Conn) {
	defer c.Close()
	port, err := t.current(ctx)
	if err != nil {
		return
	}
	var d net.Dialer
	b, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return
	}
	defer b.Close()
	// The first direction to end closes both (the deferred Closes): a TLS client never
	// half-closes, and a port-forward that died must not leave the client waiting.
	done := make(chan struct{}, 2)
	relay := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go relay(b, c)
	go relay(c, b)
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// current is the local port of the running port-forward, waiting up to t.wait for one.
func (t *tunnel) current(ctx context.Context) (uint16, error) {
	timer := time.NewTimer(t.wait)
	defer timer.Stop()
	for {
		t.mu.Lock()
		fw, ready := t.cur, t.ready
		t.mu.Unlock()
		if fw != nil {
			return fw.LocalPort, nil
		}
		select {
		case <-ready:
		case <-timer.C:
			return 0, errors.New("no port-forward running")
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

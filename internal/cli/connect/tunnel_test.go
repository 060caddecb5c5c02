package connect

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kplex-dev/kplex/internal/testenv"
)

// backend plays a control-plane pod behind port-forwards: a local server that greets each
// connection with its name, then echoes.
type backend struct {
	name string
	l    net.Listener
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				fmt.Fprintln(c, name)
				_, _ = io.Copy(c, c) // then echo
				c.Close()
			}()
		}
	}()
	return &backend{name: name, l: l}
}

// greeting connects to the tunnel and returns the name of the backend that answered.
func greeting(t *testing.T, port int) string {
	t.Helper()
	name, err := greet(port)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func greet(port int) (string, error) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return "", fmt.Errorf("dial the tunnel: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read through the tunnel: %w", err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// TestTunnelPortForwardPerConnection: every local connection gets a port-forward of its
// own, so one that ends (client-go ends a port-forward at its first failed connection)
// takes no other connection with it; connections made while the control plane has no
// ready pod wait for one, and the failure is said once; the local port never changes.
func TestTunnelPortForwardPerConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, second := newBackend(t, "pod-1"), newBackend(t, "pod-2")
	var mu sync.Mutex
	current, failing := first, false
	var stopped []*backend // a forwarding's context ended
	var dones []chan error // one per port-forward started
	start := func(ctx context.Context) (*forwarding, error) {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return nil, errors.New("no ready control-plane pod")
		}
		b := current
		done := make(chan error, 1)
		fw := &forwarding{LocalPort: uint16(b.l.Addr().(*net.TCPAddr).Port), Pod: b.name, Done: done}
		dones = append(dones, done)
		context.AfterFunc(ctx, func() { mu.Lock(); stopped = append(stopped, b); mu.Unlock() })
		return fw, nil
	}
	var log safeBuffer
	tun, err := openTunnel(ctx, start, &log)
	if err != nil {
		t.Fatal(err)
	}
	port := tun.LocalPort()

	// A long-lived connection, then another whose port-forward ends under it.
	long, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	r := bufio.NewReader(long)
	if line, err := r.ReadString('\n'); err != nil || line != "pod-1\n" {
		t.Fatalf("long-lived connection: %q %v", line, err)
	}
	short, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	if line, err := bufio.NewReader(short).ReadString('\n'); err != nil || line != "pod-1\n" {
		t.Fatalf("second connection: %q %v", line, err)
	}
	mu.Lock()
	n := len(dones)
	last := dones[n-1]
	mu.Unlock()
	if n != 3 { // the check at open, and one per connection
		t.Fatalf("%d port-forwards started, want 3 (one to check, one per connection)", n)
	}
	last <- errors.New("lost connection to pod")
	_ = short.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := short.Read(make([]byte, 1)); err == nil {
		t.Error("the connection whose port-forward ended is still open")
	}
	fmt.Fprintln(long, "still here")
	_ = long.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || line != "still here\n" {
		t.Errorf("the long-lived connection after another's port-forward ended: %q %v", line, err)
	}

	// The control plane restarts: no ready pod for a while, then another.
	mu.Lock()
	failing, current = true, second
	mu.Unlock()
	answered := make(chan string, 1)
	go func() {
		name, err := greet(port)
		if err != nil {
			name = err.Error()
		}
		answered <- name
	}()
	select {
	case got := <-answered:
		t.Fatalf("a connection was answered by %q while no pod was ready", got)
	case <-time.After(time.Second):
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	if got := <-answered; got != "pod-2" {
		t.Errorf("the waiting connection reached %q, want pod-2", got)
	}
	if n := log.count("retrying: no ready control-plane pod"); n != 1 {
		t.Errorf("the failure was said %d times, want once:\n%s", n, log.String())
	}
	if !log.contains("works again") {
		t.Errorf("log does not say forwarding works again:\n%s", log.String())
	}
	mu.Lock()
	if len(stopped) < 2 {
		t.Errorf("port-forwards stopped: %d, want at least the check's and the ended connection's", len(stopped))
	}
	mu.Unlock()
	if tun.LocalPort() != port || tun.Pod() != "pod-1" {
		t.Errorf("tunnel port %d pod %q", tun.LocalPort(), tun.Pod())
	}

	cancel()
	waitClosed(t, port)
}

// TestTunnelFirstStartFails: without a first port-forward nothing listens and the error
// is returned as is.
func TestTunnelFirstStartFails(t *testing.T) {
	want := errors.New("no ready control-plane pod")
	_, err := openTunnel(context.Background(), func(context.Context) (*forwarding, error) { return nil, want }, io.Discard)
	if !errors.Is(err, want) {
		t.Fatalf("openTunnel: %v, want %v", err, want)
	}
}

func waitClosed(t *testing.T, port int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return
		}
		c.Close()
	}
	t.Errorf("the tunnel still listens on %d after its context ended", port)
}

// safeBuffer is an io.Writer the tunnel's goroutines may share.
type safeBuffer struct{ testenv.SyncBuffer }

func (s *safeBuffer) contains(sub string) bool { return strings.Contains(s.String(), sub) }
func (s *safeBuffer) count(sub string) int     { return strings.Count(s.String(), sub) }

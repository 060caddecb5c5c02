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
)

// backend plays one port-forward: a local server that greets each connection with its
// name, and the Done channel that client-go's forwarder would report its end on.
type backend struct {
	name string
	l    net.Listener
	done chan error
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
			fmt.Fprintln(c, name)
			_, _ = io.Copy(c, c) // then echo
			c.Close()
		}
	}()
	return &backend{name: name, l: l, done: make(chan error, 1)}
}

func (b *backend) forwarding() *forwarding {
	return &forwarding{LocalPort: uint16(b.l.Addr().(*net.TCPAddr).Port), Pod: b.name, Done: b.done}
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

// TestTunnelOutlivesPortForwards: the local port stays the same while port-forwards end
// and are started again (client-go ends one at its first failed connection, and the pod
// changes on a restart); connections made while none runs wait for the next one.
func TestTunnelOutlivesPortForwards(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, second := newBackend(t, "pod-1"), newBackend(t, "pod-2")
	var mu sync.Mutex
	starts, failures := 0, 0
	release := make(chan struct{})
	start := func(ctx context.Context) (*forwarding, error) {
		mu.Lock()
		defer mu.Unlock()
		starts++
		switch {
		case starts == 1:
			return first.forwarding(), nil
		case failures < 2: // the control plane is not ready yet
			failures++
			return nil, errors.New("no ready control-plane pod")
		}
		<-release
		return second.forwarding(), nil
	}
	var log safeBuffer
	tun, err := openTunnel(ctx, start, &log)
	if err != nil {
		t.Fatal(err)
	}
	port := tun.LocalPort()
	if got := greeting(t, port); got != "pod-1" {
		t.Fatalf("first connection reached %q, want pod-1", got)
	}

	first.done <- errors.New("lost connection to pod")
	answered := make(chan string, 1)
	go func() { // made while no port-forward runs
		name, err := greet(port)
		if err != nil {
			name = err.Error()
		}
		answered <- name
	}()
	select {
	case got := <-answered:
		t.Fatalf("a connection was answered by %q while no port-forward ran", got)
	case <-time.After(time.Second):
	}
	close(release)
	if got := <-answered; got != "pod-2" {
		t.Errorf("the waiting connection reached %q, want pod-2", got)
	}
	if got := greeting(t, port); got != "pod-2" {
		t.Errorf("a new connection reached %q, want pod-2", got)
	}
	if tun.Pod() != "pod-2" {
		t.Errorf("tunnel reports pod %q, want pod-2", tun.Pod())
	}
	for _, want := range []string{"port-forward to pod pod-1 ended (lost connection to pod)", "retrying: no ready control-plane pod", "to pod pod-2 again"} {
		if !log.contains(want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	if n := log.count("retrying"); n != 1 {
		t.Errorf("the same failure was logged %d times, want once:\n%s", n, log.String())
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
type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *safeBuffer) contains(sub string) bool { return strings.Contains(s.String(), sub) }
func (s *safeBuffer) count(sub string) int     { return strings.Count(s.String(), sub) }

package netgate

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listen accepts (and at once closes) connections until the test ends, or, with n > 0,
// until it has taken n of them: then it closes and further connections are refused.
func listen(t *testing.T, n int) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		defer l.Close()
		for i := 1; n <= 0 || i <= n; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l
}

func TestWaitKeepsWaitingWhileTheProbeAccepts(t *testing.T) {
	l := listen(t, 0)
	start := time.Now()
	_, err := Wait(context.Background(), Config{Probe: l.Addr().String(), Node: "node-1", Deadline: 500 * time.Millisecond, Interval: 20 * time.Millisecond})
	if err == nil {
		t.Fatal("Wait passed while the probe address accepted connections")
	}
	if time.Since(start) < 450*time.Millisecond {
		t.Errorf("Wait gave up after %s, before its deadline", time.Since(start))
	}
	for _, want := range []string{"network policy not in effect", l.Addr().String(), "still accepts connections", "node node-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestWaitPassesOnceTheProbeIsRefused(t *testing.T) {
	// Accepting three connections, then refused: the moment the policy arrives.
	l := listen(t, 3)
	r, err := Wait(context.Background(), Config{Probe: l.Addr().String(), Deadline: 10 * time.Second, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempts < 4 || r.Waited < 60*time.Millisecond || !errors.Is(r.Evidence, syscall.ECONNREFUSED) {
		t.Errorf("got %+v, want a refusal after at least 4 attempts 20ms apart", r)
	}
}

func TestWaitPassesOnADroppedConnection(t *testing.T) {
	var attempts int
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		attempts++
		<-ctx.Done() // a policy that drops: the attempt times out
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	}
	r, err := Wait(context.Background(), Config{Probe: "10.96.0.1:443", DialTimeout: 10 * time.Millisecond, Dial: dial})
	if err != nil || attempts != 1 || r.Attempts != 1 {
		t.Fatalf("got %+v, %v after %d attempts; want a pass at the first timeout", r, err, attempts)
	}
}

// Errors that are no policy's doing prove nothing: the gate fails closed.
func TestWaitFailsClosedOnOtherErrors(t *testing.T) {
	dial := func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EADDRNOTAVAIL)}
	}
	_, err := Wait(context.Background(), Config{Probe: "10.96.0.1:443", Deadline: 200 * time.Millisecond, Interval: 10 * time.Millisecond, Dial: dial})
	if err == nil || !strings.Contains(err.Error(), "not a policy refusal") || !strings.Contains(err.Error(), "assign requested address") {
		t.Fatalf("got %v, want a failure naming the unexpected error", err)
	}
}

// An attempt cut short by the overall deadline is no evidence, even if it ends in a
// timeout: the gate must not pass at its deadline.
func TestWaitFailsAtTheDeadlineEvenOnATimeout(t *testing.T) {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		if dl, _ := ctx.Deadline(); time.Until(dl) < 100*time.Millisecond {
			// The last attempt times out as the deadline comes, as a socket deadline can
			// fire a moment before the context says so.
			time.Sleep(time.Until(dl) - 5*time.Millisecond)
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
		}
		c, _ := net.Pipe() // connected
		return c, nil
	}
	_, err := Wait(context.Background(), Config{Probe: "10.96.0.1:443", Deadline: 300 * time.Millisecond, Interval: 10 * time.Millisecond, DialTimeout: time.Second, Dial: dial})
	if err == nil || !strings.Contains(err.Error(), "still accepts connections") {
		t.Fatalf("got %v, want the deadline's failure", err)
	}
}

func TestFiltered(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{os.NewSyscallError("connect", syscall.ECONNREFUSED), true},
		{os.NewSyscallError("connect", syscall.EHOSTUNREACH), true},
		{os.NewSyscallError("connect", syscall.ENETUNREACH), true},
		{&net.OpError{Err: os.ErrDeadlineExceeded}, true},
		{os.NewSyscallError("connect", syscall.EACCES), false},
		{os.NewSyscallError("connect", syscall.EPERM), false},
		{os.NewSyscallError("connect", syscall.EADDRNOTAVAIL), false},
		{errors.New("something else"), false},
	} {
		if got := Filtered(tc.err); got != tc.want {
			t.Errorf("Filtered(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

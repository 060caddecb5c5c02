// Package netgate waits until a pod's egress network policy is in effect: it connects
// to an address tenant pods are always denied (the host API server's Service address)
// until the connection is refused, unreachable or times out. It uses the standard
// library only: it runs as the first init container of every tenant pod, and must start
// in milliseconds with a few megabytes.
package netgate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"
)

// Binary is where the gate is installed in the kplexd image.
const Binary = "/kplex-netgate"

// Defaults of Config.
const (
	DefaultDeadline    = 60 * time.Second
	DefaultInterval    = 100 * time.Millisecond
	DefaultDialTimeout = time.Second
)

// Config is one gate run.
type Config struct {
	// Probe is host:port of an address the pod's egress policy denies but that accepts
	// connections otherwise.
	Probe string
	// Node names the pod's node in the failure message.
	Node string
	// Deadline, Interval and DialTimeout: zero means the default.
	Deadline, Interval, DialTimeout time.Duration
	// Dial connects (nil: a net.Dialer with DialTimeout).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Result is how a successful wait ended.
type Result struct {
	Waited   time.Duration // from the first attempt to the filtered one
	Attempts int
	Evidence error // what the last attempt got: refused, unreachable or a timeout
}

// Wait connects to c.Probe every Interval until an attempt is filtered (refused,
// unreachable or timed out) and returns what it saw. A connection that succeeds means
// the pod's traffic is not filtered yet. Any other error (no free local port, a
// permission denied by a security profile) proves nothing, so Wait keeps trying: the
// gate fails closed. After Deadline it returns an error naming the cause.
func Wait(ctx context.Context, c Config) (Result, error) {
	deadline, interval, dialTimeout := or(c.Deadline, DefaultDeadline), or(c.Interval, DefaultInterval), or(c.DialTimeout, DefaultDialTimeout)
	dial := c.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: dialTimeout}).DialContext
	}
	start := time.Now()
	end := start.Add(deadline)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	var last error // nil: the last attempt connected
	for attempt := 1; ; attempt++ {
		// An attempt that the overall deadline (or a signal) cut short proves nothing: a
		// timeout counts only when the attempt had its whole dial timeout.
		full := time.Until(end) > dialTimeout
		actx, acancel := context.WithTimeout(ctx, dialTimeout)
		conn, err := dial(actx, "tcp", c.Probe)
		acancel()
		switch {
		case err == nil:
			closeNow(conn)
			last = nil
		case ctx.Err() != nil, !full && isTimeout(err):
		case Filtered(err):
			return Result{Waited: time.Since(start), Attempts: attempt, Evidence: err}, nil
		default:
			last = err
		}
		select {
		case <-ctx.Done():
			return Result{}, failure(c, time.Since(start).Round(time.Second), last)
		case <-time.After(interval):
		}
	}
}

func failure(c Config, waited time.Duration, last error) error {
	node := c.Node
	if node == "" {
		node = "this pod's node"
	}
	if last == nil {
		return fmt.Errorf("network policy not in effect for this pod after %s: %s still accepts connections; is a NetworkPolicy enforcer running on node %s?", waited, c.Probe, node)
	}
	return fmt.Errorf("network policy not proven in effect for this pod after %s: connecting to %s fails with %v, which is not a policy refusal; check the pod's security profile and node %s", waited, c.Probe, last, node)
}

// Filtered reports whether a connection error is what a network policy does to a denied
// connection: rejected (refused, host or network unreachable) or dropped (a timeout).
func Filtered(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) || isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// closeNow closes with a reset instead of a FIN, so that the probes leave no TIME_WAIT
// entries behind to use up the pod's local ports.
func closeNow(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func or(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// ValidProbe checks that probe is an IP:PORT (a name would need a resolver the pod may
// not have yet, and could name a different address each time).
func ValidProbe(probe string) error {
	h, p, err := net.SplitHostPort(probe)
	if port, perr := strconv.Atoi(p); err != nil || perr != nil || net.ParseIP(h) == nil || port <= 0 || port > 65535 {
		return fmt.Errorf("%q: want IP:PORT, e.g. 10.96.0.1:443", probe)
	}
	return nil
}

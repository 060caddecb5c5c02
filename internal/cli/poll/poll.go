// Package poll repeats a check until it holds, fails or a timeout passes.
// The timeout bounds the wait, not each request: a request that starts just
// before the deadline still gets an answer, so a timeout is always reported
// as a timeout, never as a request that a rate limiter or context cut short.
package poll

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/pflag"
)

// ErrTimeout is returned when timeout passed before check held.
var ErrTimeout = errors.New("timed out")

// requestTimeout bounds one call of check.
const requestTimeout = 15 * time.Second

// Until calls check every interval (first immediately) until it returns
// true or an error, ctx ends, or timeout passes.
func Until(ctx context.Context, interval, timeout time.Duration, check func(context.Context) (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		done, err := check(rctx)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			return err
		case done:
			return nil
		case !time.Now().Before(deadline):
			return ErrTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(interval, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// Wait is the --wait and --timeout flag pair of a command that can wait for a state.
type Wait struct {
	Enabled bool
	Timeout time.Duration
}

// AddFlags registers --wait (default on) with help "wait until <until>" and --timeout
// (default timeout).
func (w *Wait) AddFlags(fs *pflag.FlagSet, until string, on bool, timeout time.Duration) {
	fs.BoolVar(&w.Enabled, "wait", on, "wait until "+until)
	fs.DurationVar(&w.Timeout, "timeout", timeout, "how long --wait waits")
}

// Package component runs one upstream component's Run(ctx) in the background with a
// Stop that cancels it and waits, so each component wrapper stays a few lines.
package component

import (
	"context"
	"fmt"
	"sync"
)

// Runner tracks one background run.
type Runner struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
}

// Go starts run in the background under a context that only Stop cancels.
func Go(ctx context.Context, name string, run func(context.Context) error) *Runner {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Runner{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := run(rctx); err != nil && rctx.Err() == nil {
			r.err = fmt.Errorf("%s: %w", name, err)
		}
	}()
	return r
}

// Done is closed when the run ends, by Stop or by failing.
func (r *Runner) Done() <-chan struct{} { return r.done }

// Err says why the run ended on its own; nil after Stop.
func (r *Runner) Err() error { return r.err }

// Stop cancels the run and waits for it until ctx ends. Safe to call more than once.
func (r *Runner) Stop(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.once.Do(r.cancel)
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s did not stop in time", r.name)
	}
}

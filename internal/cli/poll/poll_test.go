package poll

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	ctx := context.Background()
	n := 0
	if err := Until(ctx, time.Millisecond, time.Second, func(context.Context) (bool, error) { n++; return n == 3, nil }); err != nil || n != 3 {
		t.Errorf("done after %d calls: %v", n, err)
	}
	start := time.Now()
	if err := Until(ctx, 10*time.Millisecond, 50*time.Millisecond, func(context.Context) (bool, error) { return false, nil }); !errors.Is(err, ErrTimeout) {
		t.Errorf("error %v, want timeout", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > time.Second {
		t.Errorf("timeout after %s", d)
	}
	boom := errors.New("boom")
	if err := Until(ctx, time.Millisecond, time.Second, func(context.Context) (bool, error) { return false, boom }); err != boom {
		t.Errorf("error %v, want the check's", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Until(cctx, time.Millisecond, time.Second, func(ctx context.Context) (bool, error) { return false, ctx.Err() }); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want canceled", err)
	}
}

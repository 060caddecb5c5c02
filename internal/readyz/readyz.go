// Package readyz asks a Kubernetes API server whether it is ready, once or until it is.
// Light on purpose (client-go only): tests, tools and the control plane itself share it.
package readyz

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
)

// Check asks /readyz once; only the body "ok" means ready.
func Check(ctx context.Context, c rest.Interface) error {
	body, err := c.Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return err
	}
	if string(body) != "ok" {
		return fmt.Errorf("not ready: %s", body)
	}
	return nil
}

// Poll waits until /readyz answers "ok", checking every interval. connect builds the
// client; it may fail while the server's certificates or kubeconfig do not exist yet and
// is then retried. The client it returns is kept, so each check is one request over a
// kept-alive connection, not a TLS handshake that competes with the starting server.
// Poll ends with ctx, or as soon as abort is closed, returning aborted().
func Poll(ctx context.Context, interval time.Duration, connect func() (rest.Interface, error), abort <-chan struct{}, aborted func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var c rest.Interface
	for {
		if c == nil {
			c, _ = connect()
		}
		if c != nil && Check(ctx, c) == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("API server not ready: %w", ctx.Err())
		case <-abort:
			return aborted()
		case <-t.C:
		}
	}
}

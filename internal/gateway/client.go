package gateway

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
)

// cacheSyncTimeout bounds the first listing of VirtualClusters.
const cacheSyncTimeout = 2 * time.Minute

// NewClient returns a client whose reads of VirtualClusters come from a cache (so that a
// flood of connections costs the host API server nothing) and whose writes go to the API
// server. The cache runs until ctx ends; it is synced when NewClient returns.
func NewClient(ctx context.Context, cfg *rest.Config, log logr.Logger) (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("gateway: cache of virtual clusters: %w", err)
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			log.Error(err, "Cache of virtual clusters stopped")
		}
	}()
	syncCtx, cancel := context.WithTimeout(ctx, cacheSyncTimeout)
	defer cancel()
	if _, err := c.GetInformer(syncCtx, &v1alpha1.VirtualCluster{}); err != nil {
		return nil, fmt.Errorf("gateway: watch virtual clusters (is the CRD installed, may the operator list them?): %w", err)
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme, Cache: &client.CacheOptions{Reader: c}})
	if err != nil {
		return nil, fmt.Errorf("gateway: client: %w", err)
	}
	return cl, nil
}

// DialAddress returns a Dial that connects over TCP to address(vc).
func DialAddress(address func(vc string) string) func(ctx context.Context, vc string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return func(ctx context.Context, vc string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", address(vc))
	}
}

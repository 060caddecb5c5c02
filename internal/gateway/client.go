package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
)

// cacheSyncTimeout bounds the first listing of VirtualClusters and Services.
const cacheSyncTimeout = 2 * time.Minute

// NewClient returns a client whose reads of VirtualClusters, and of the Services that
// services selects, come from a cache (so that a flood of connections costs the host API
// server nothing) and whose writes go to the API server. The cache runs until ctx ends; it
// is synced when NewClient returns.
func NewClient(ctx context.Context, cfg *rest.Config, services labels.Selector, log logr.Logger) (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, ByObject: map[client.Object]cache.ByObject{
		&corev1.Service{}: {Label: services},
	}})
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
	if _, err := c.GetInformer(syncCtx, &corev1.Service{}); err != nil {
		return nil, fmt.Errorf("gateway: watch the virtual clusters' Services (may the operator list them?): %w", err)
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme, Cache: &client.CacheOptions{Reader: c}})
	if err != nil {
		return nil, fmt.Errorf("gateway: client: %w", err)
	}
	return cl, nil
}

// DialAddress returns a Dial that connects over TCP to address(vc).
func DialAddress(address func(vc string) string) func(ctx context.Context, vc string) (net.Conn, error) {
	return dialVia(func(_ context.Context, vc string) (string, error) { return address(vc), nil })
}

// errNoClusterIP: the Service has no address yet (or is headless).
var errNoClusterIP = errors.New("no cluster IP")

// DialService returns a Dial that connects to the cluster IP and first port of Service
// service(vc), read through r. It needs no cluster DNS: a host's pods may resolve only
// outside names (the devhost's do), and the gateway must not depend on one more service.
func DialService(r client.Reader, service func(vc string) types.NamespacedName) func(ctx context.Context, vc string) (net.Conn, error) {
	return dialVia(func(ctx context.Context, vc string) (string, error) {
		key := service(vc)
		svc := &corev1.Service{}
		if err := r.Get(ctx, key, svc); err != nil {
			if apierrors.IsNotFound(err) {
				return "", fmt.Errorf("service %s of virtual cluster %s not found", key, vc)
			}
			return "", fmt.Errorf("service %s of virtual cluster %s: %w", key, vc, err)
		}
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			return "", fmt.Errorf("service %s of virtual cluster %s: %w", key, vc, errNoClusterIP)
		}
		return net.JoinHostPort(ip, strconv.Itoa(int(svc.Spec.Ports[0].Port))), nil
	})
}

// dialVia returns a Dial that connects over TCP to the address that address
// finds for vc.
func dialVia(address func(ctx context.Context, vc string) (string, error)) func(ctx context.Context, vc string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return func(ctx context.Context, vc string) (net.Conn, error) {
		a, err := address(ctx, vc)
		if err != nil {
			return nil, err
		}
		return d.DialContext(ctx, "tcp", a)
	}
}

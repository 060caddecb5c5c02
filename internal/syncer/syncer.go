// Package syncer copies a tenant's workloads from its virtual cluster into its host
// namespace and copies back what the tenant must see. It is a controller-runtime manager
// on the virtual cluster with a second cluster.Cluster for the host (the multi-cluster
// pattern): each resource has one reconciler (see register.go) that watches both sides.
package syncer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kplex-dev/kplex/internal/syncer/nodes"
	"github.com/kplex-dev/kplex/internal/syncer/pods"
	"github.com/kplex-dev/kplex/internal/translate"
)

// Defaults for Options. The host's API priority and fairness arbitrates between tenants
// (each syncer is a flow of its own); the client limit only guards against a runaway
// loop, so it is set above what 50 pod creations per second need (about 2 host and 3
// virtual requests per pod), measured by `make bench`.
const (
	DefaultQPS           = 200
	DefaultBurst         = 400
	DefaultTokenLifetime = time.Hour
	// The kubelet proxy runs in the process of the API server that calls it.
	DefaultKubeletAddress = "127.0.0.1"
	DefaultKubeletPort    = 10250
)

// Options configure a Syncer.
type Options struct {
	// Tenant is the virtual cluster's name (a DNS-1123 label); it marks every host copy.
	Tenant string
	// HostNamespace is the one host namespace the tenant's objects are copied into.
	HostNamespace string
	// Virtual and Host are the two API servers. Host needs exactly the rights in
	// HostRole and HostClusterRole; Virtual needs cluster-admin (see EnsureVirtualRBAC).
	Virtual, Host *rest.Config
	// VirtualCA is the virtual API server's CA bundle, given to pods as ca.crt. Empty: read
	// from Virtual (CAData or CAFile).
	VirtualCA []byte
	// TenantAPIHost and TenantAPIPort are the virtual API server's address as pods on the
	// host reach it: KUBERNETES_SERVICE_HOST/PORT. Empty host: those variables are not set.
	TenantAPIHost string
	TenantAPIPort int
	// DNS is the tenant's resolver given to pods (zero: pods keep their DNS settings).
	DNS pods.DNS
	// NetworkGate runs before every container of the tenant's pods until the pod's network
	// policy is in effect (zero Image: no gate).
	NetworkGate pods.NetworkGate
	// Ingresses: the tenant may have Ingresses, copied for the host's ingress controllers
	// (spec.isolation.allowIngresses). False: none is copied, and host copies left from
	// when it could are deleted.
	Ingresses bool
	// QPS and Burst limit each client (virtual and host). Zero: DefaultQPS, DefaultBurst.
	QPS   float32
	Burst int
	// TokenAudiences of the service-account tokens issued to pods. Empty: the virtual API
	// server's own audiences (its issuer), as for a pod on a real node.
	TokenAudiences []string
	// TokenLifetime of those tokens; they are renewed at 80% of it. Zero: DefaultTokenLifetime.
	TokenLifetime time.Duration
	// KubeletAddress and KubeletPort: where the virtual nodes' kubelet API is served
	// (kplexd's kubelet proxy), published as every virtual node's address and kubelet
	// port. Empty: DefaultKubeletAddress and DefaultKubeletPort.
	KubeletAddress string
	KubeletPort    int32
	Log            logr.Logger
}

// Syncer is a started or startable syncer for one tenant.
type Syncer struct {
	opts Options
	tr   *translate.Translator
	mgr  manager.Manager
	host cluster.Cluster
	// kubelet is the virtual nodes' kubelet endpoint.
	kubelet nodes.Kubelet
}

// New builds the manager, the host cluster and every resource syncer; nothing runs
// until Start.
func New(opts Options) (*Syncer, error) {
	if opts.Virtual == nil || opts.Host == nil {
		return nil, errors.New("syncer: virtual and host API configurations are both required")
	}
	if opts.QPS == 0 {
		opts.QPS = DefaultQPS
	}
	if opts.Burst == 0 {
		opts.Burst = DefaultBurst
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.TokenLifetime < 10*time.Minute {
		return nil, fmt.Errorf("syncer: token lifetime %s is below the API server's minimum of 10m", opts.TokenLifetime)
	}
	kubelet, err := opts.kubelet()
	if err != nil {
		return nil, err
	}
	tr, err := translate.New(translate.Tenant{Name: opts.Tenant, HostNamespace: opts.HostNamespace})
	if err != nil {
		return nil, err
	}
	if len(opts.VirtualCA) == 0 {
		ca, err := caOf(opts.Virtual)
		if err != nil {
			return nil, err
		}
		opts.VirtualCA = ca
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	virtual, host := limited(opts.Virtual, "virtual", opts), limited(opts.Host, "host", opts)

	hostCluster, err := cluster.New(host, func(o *cluster.Options) {
		o.Scheme = scheme
		o.Logger = opts.Log.WithName("host")
		o.Cache = cache.Options{
			DefaultNamespaces:    map[string]cache.Config{opts.HostNamespace: {}},
			DefaultLabelSelector: tr.OwnedSelector(),
			// The host's own objects the syncer reads, which carry no tenant label.
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Node{}:               nodes.HostCache(),
				&storagev1.StorageClass{}:    {Label: labels.Everything()},
				&networkingv1.IngressClass{}: {Label: labels.Everything()},
			},
		}
	})
	if err != nil {
		return nil, fmt.Errorf("host cluster: %w", err)
	}
	mgr, err := manager.New(virtual, manager.Options{
		Scheme:  scheme,
		Logger:  opts.Log,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{
			// Several syncers may share a process (tests); names are per manager.
			SkipNameValidation: ptr.To(true),
		},
		GracefulShutdownTimeout: ptr.To(5 * time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("virtual manager: %w", err)
	}
	if err := mgr.Add(hostCluster); err != nil {
		return nil, err
	}
	s := &Syncer{opts: opts, tr: tr, mgr: mgr, host: hostCluster, kubelet: kubelet}
	if err := s.register(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs the syncer until ctx ends or it fails.
func (s *Syncer) Start(ctx context.Context) error {
	return s.mgr.Start(ctx)
}

// Translator is the tenant's naming, for callers that look at host objects.
func (s *Syncer) Translator() *translate.Translator { return s.tr }

// limited gives every client of one API server a single shared rate limit, which
// reports when it holds requests back.
func limited(c *rest.Config, side string, o Options) *rest.Config {
	c = rest.CopyConfig(c)
	c.QPS, c.Burst = o.QPS, o.Burst
	c.RateLimiter = newReportingLimiter(side, o.QPS, o.Burst, o.Log)
	return c
}

func caOf(c *rest.Config) ([]byte, error) {
	if len(c.CAData) > 0 {
		return c.CAData, nil
	}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("virtual API server CA: %w", err)
		}
		return b, nil
	}
	return nil, errors.New("syncer: the virtual API configuration has no CA: pods could not verify the API server")
}

// kubelet validates and defaults KubeletAddress and KubeletPort.
func (o Options) kubelet() (nodes.Kubelet, error) {
	addr, port := o.KubeletAddress, o.KubeletPort
	if addr == "" {
		addr = DefaultKubeletAddress
	}
	if port == 0 {
		port = DefaultKubeletPort
	}
	ip := net.ParseIP(addr)
	if ip == nil {
		return nodes.Kubelet{}, fmt.Errorf("syncer: kubelet address %q is not an IP address: virtual nodes publish it as their InternalIP", addr)
	}
	if port < 1 || port > 65535 {
		return nodes.Kubelet{}, fmt.Errorf("syncer: kubelet port %d out of range 1-65535", port)
	}
	return nodes.Kubelet{Address: ip, Port: port}, nil
}

// tenantEndpoint is the host:port pods use for the virtual API server, or "".
func (o Options) tenantEndpoint() (string, string) {
	if o.TenantAPIHost == "" {
		return "", ""
	}
	port := o.TenantAPIPort
	if port == 0 {
		port = 443
	}
	return o.TenantAPIHost, strconv.Itoa(port)
}

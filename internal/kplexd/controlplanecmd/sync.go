package controlplanecmd

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplex-dev/kplex/internal/activity"
	"github.com/kplex-dev/kplex/internal/controlplane"
	"github.com/kplex-dev/kplex/internal/controlplane/pki"
	"github.com/kplex-dev/kplex/internal/kubeletproxy"
	"github.com/kplex-dev/kplex/internal/netgate"
	"github.com/kplex-dev/kplex/internal/syncer"
	"github.com/kplex-dev/kplex/internal/syncer/pods"
)

// syncFlags are the syncer's flags; without --host-kubeconfig and --host-namespace
// there is no syncer and the control plane runs alone.
type syncFlags struct {
	hostKubeconfig string
	hostNamespace  string
	qps            float32
	burst          int
	tenantAPIHost  string
	publishSecret  string
	publishServer  string
	gateway        gatewayFlags
	dns            dnsFlags
	kubeletAddress string
	kubeletPort    int
	activityEvery  time.Duration
	gateImage      string
	gateProbe      string
}

// SyncConfig is a validated syncer configuration.
type SyncConfig struct {
	Host          *rest.Config
	HostNamespace string
	QPS           float32
	Burst         int
	// TenantAPIHost and TenantAPIPort: the virtual API server as pods on the host reach it.
	TenantAPIHost string
	TenantAPIPort int
	// Publish, when set, puts the admin kubeconfig into a Secret of HostNamespace.
	Publish *PublishConfig
	// DNS is the tenant's DNS server, nil when not served.
	DNS *DNSConfig
	// KubeletAddress and KubeletPort: where the kubelet proxy listens, published in the
	// virtual nodes; port 0 picks a free one.
	KubeletAddress net.IP
	KubeletPort    int
	// ActivityEvery is how often the tenant's last activity goes to the host's Lease.
	ActivityEvery time.Duration
	// NetworkGate runs first in every tenant pod (zero Image: not at all).
	NetworkGate pods.NetworkGate
}

func (f *syncFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.hostKubeconfig, "host-kubeconfig", "", "kubeconfig of the host cluster the tenant's pods run on (default with --host-namespace: the in-cluster configuration)")
	fs.StringVar(&f.hostNamespace, "host-namespace", "", "host namespace the tenant's objects are copied into; setting it starts the syncer")
	fs.Float32Var(&f.qps, "sync-qps", syncer.DefaultQPS, "syncer's queries per second to each API server")
	fs.IntVar(&f.burst, "sync-burst", syncer.DefaultBurst, "syncer's burst of queries to each API server")
	f.dns.addFlags(fs)
	fs.StringVar(&f.tenantAPIHost, "tenant-api-host", "", "address (HOST or HOST:PORT) at which pods on the host reach this API server (default: --advertise-address and --secure-port)")
	fs.StringVar(&f.publishSecret, "publish-kubeconfig-secret", "", "write the admin kubeconfig into this Secret of --host-namespace (key \"kubeconfig\") once ready")
	fs.StringVar(&f.publishServer, "publish-kubeconfig-server", "", "API server URL in the published kubeconfig, e.g. https://kplex-apiserver.kplex-a.svc:443")
	f.gateway.addFlags(fs)
	fs.StringVar(&f.kubeletAddress, "kubelet-proxy-address", syncer.DefaultKubeletAddress, "IP address the kubelet proxy (logs, exec, attach, port-forward of the tenant's pods) listens on; virtual nodes publish it, and only this process's API server calls it")
	fs.IntVar(&f.kubeletPort, "kubelet-proxy-port", 0, "port of the kubelet proxy, published in the virtual nodes (0: any free port)")
	fs.StringVar(&f.gateImage, "network-gate-image", "", "image holding /kplex-netgate (the kplexd image), run as the first init container of every tenant pod until the pod's network policy is in effect (empty: no gate)")
	fs.StringVar(&f.gateProbe, "network-gate-probe", "", "IP:PORT the gate connects to, which tenant pods are always denied and which accepts connections otherwise (default: the host API server's address when it is an IP:PORT)")
	fs.DurationVar(&f.activityEvery, "activity-report-interval", activityEvery, "how often the tenant's last API activity (requests by people and the tenant's controllers) is written to Lease "+syncer.ActivityLease+" in --host-namespace")
}

// complete returns nil when the syncer is not asked for.
func (f *syncFlags) complete(cfg controlplane.Config) (*SyncConfig, error) {
	publish, err := validatePublish(f.publishSecret, f.publishServer, f.hostNamespace)
	if err != nil {
		return nil, err
	}
	if err := f.gateway.complete(publish, cfg.TLSSANs); err != nil {
		return nil, err
	}
	dc, err := f.dns.complete()
	if err != nil {
		return nil, err
	}
	if f.hostKubeconfig == "" && f.hostNamespace == "" {
		if dc != nil {
			return nil, fmt.Errorf("--dns-address needs the syncer (--host-namespace): the DNS serves the tenant's pods on the host")
		}
		return nil, nil
	}
	if f.hostNamespace == "" {
		return nil, fmt.Errorf("--host-kubeconfig needs --host-namespace: the host namespace the tenant's objects go to")
	}
	var host *rest.Config
	if f.hostKubeconfig != "" {
		host, err = clientcmd.BuildConfigFromFlags("", f.hostKubeconfig)
	} else {
		host, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("host cluster configuration (set --host-kubeconfig, or run in a pod): %w", err)
	}
	if f.qps <= 0 || f.burst <= 0 {
		return nil, fmt.Errorf("--sync-qps and --sync-burst must be positive")
	}
	ip := net.ParseIP(f.kubeletAddress)
	if ip == nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("--kubelet-proxy-address %q: give the IP address the API server calls (e.g. 127.0.0.1), not a wildcard", f.kubeletAddress)
	}
	if f.kubeletPort < 0 || f.kubeletPort > 65535 {
		return nil, fmt.Errorf("--kubelet-proxy-port %d: want 0 (any free port) to 65535", f.kubeletPort)
	}
	if f.activityEvery < time.Second {
		return nil, fmt.Errorf("--activity-report-interval %s: want at least 1s (e.g. 15s)", f.activityEvery)
	}
	sc := &SyncConfig{Host: host, HostNamespace: f.hostNamespace, QPS: f.qps, Burst: f.burst,
		TenantAPIHost: cfg.AdvertiseAddress, TenantAPIPort: cfg.SecurePort, Publish: publish, DNS: dc,
		KubeletAddress: ip, KubeletPort: f.kubeletPort, ActivityEvery: f.activityEvery}
	if sc.NetworkGate, err = f.networkGate(host); err != nil {
		return nil, err
	}
	if f.tenantAPIHost != "" {
		sc.TenantAPIHost = f.tenantAPIHost
		if h, p, err := net.SplitHostPort(f.tenantAPIHost); err == nil {
			port, err := strconv.Atoi(p)
			if err != nil || port <= 0 || port > 65535 {
				return nil, fmt.Errorf("--tenant-api-host %q: invalid port", f.tenantAPIHost)
			}
			sc.TenantAPIHost, sc.TenantAPIPort = h, port
		}
	}
	return sc, nil
}

// networkGate is the gate of --network-gate-image and --network-gate-probe, whose default
// is the host API server's address: its Service address when kplexd runs in a pod.
func (f *syncFlags) networkGate(host *rest.Config) (pods.NetworkGate, error) {
	if f.gateImage == "" {
		if f.gateProbe != "" {
			return pods.NetworkGate{}, fmt.Errorf("--network-gate-probe needs --network-gate-image: the image that holds /kplex-netgate")
		}
		return pods.NetworkGate{}, nil
	}
	probe := f.gateProbe
	if probe == "" {
		u, err := url.Parse(host.Host)
		if err != nil || u.Port() == "" || net.ParseIP(u.Hostname()) == nil {
			return pods.NetworkGate{}, fmt.Errorf("--network-gate-probe: the host API server %q is not an IP:PORT; give an IP:PORT that tenant pods are denied and that accepts connections (e.g. the kubernetes Service's ClusterIP:443)", host.Host)
		}
		probe = u.Host
	}
	if err := netgate.ValidProbe(probe); err != nil {
		return pods.NetworkGate{}, fmt.Errorf("--network-gate-probe %w", err)
	}
	return pods.NetworkGate{Image: f.gateImage, Probe: probe}, nil
}

// startSyncer gives kplex's components their rights in the virtual cluster and runs the
// syncer under the kplex component identity; its end is reported on done.
func startSyncer(ctx context.Context, cfg controlplane.Config, sc *SyncConfig, adminKubeconfig string, lastActivity func() time.Time, done chan<- error, log logr.Logger) error {
	admin, err := clientcmd.BuildConfigFromFlags("", adminKubeconfig)
	if err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	// The bootstrap needs system:masters (the components' binding does not exist yet), but
	// it is kplex's own request, not the tenant's activity: it says so by its groups.
	admin.Impersonate = rest.ImpersonationConfig{UserName: "kplex:bootstrap", Groups: []string{user.SystemPrivilegedGroup, activity.ComponentsGroup}}
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return err
	}
	if err := syncer.EnsureVirtualRBAC(ctx, cs); err != nil {
		return err
	}
	hostClient, err := kubernetes.NewForConfig(sc.Host)
	if err != nil {
		return fmt.Errorf("host client: %w", err)
	}
	if sc.Publish != nil {
		if err := publishKubeconfig(ctx, hostClient, sc.HostNamespace, sc.Publish, adminKubeconfig, log); err != nil {
			return err
		}
	}
	virtual, err := clientcmd.BuildConfigFromFlags("", filepath.Join(cfg.DataDir, "kubeconfig", "kplex.kubeconfig"))
	if err != nil {
		return fmt.Errorf("kplex component kubeconfig: %w", err)
	}
	if sc.TenantAPIHost == "" {
		log.Info("No --tenant-api-host nor --advertise-address: pods will not get KUBERNETES_SERVICE_HOST for the tenant's API server")
	}
	var serveDNS func(context.Context) error
	if sc.DNS != nil {
		if serveDNS, err = newDNS(ctx, sc.DNS, virtual, sc.TenantAPIHost, log.WithName("dns")); err != nil {
			return err
		}
	}
	// The kubelet proxy listens first: the virtual nodes publish its port.
	l, err := net.Listen("tcp", net.JoinHostPort(sc.KubeletAddress.String(), strconv.Itoa(sc.KubeletPort)))
	if err != nil {
		return fmt.Errorf("kubelet proxy: listen (choose another --kubelet-proxy-port): %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	s, err := syncer.New(syncer.Options{
		Tenant: cfg.Name, HostNamespace: sc.HostNamespace, Virtual: virtual, Host: sc.Host,
		TenantAPIHost: sc.TenantAPIHost, TenantAPIPort: sc.TenantAPIPort, DNS: sc.DNS.podDNS(), NetworkGate: sc.NetworkGate,
		Ingresses:      cfg.TenantPolicy.AllowIngresses,
		KubeletAddress: sc.KubeletAddress.String(), KubeletPort: int32(port),
		QPS: sc.QPS, Burst: sc.Burst, Log: log,
	})
	if err != nil {
		l.Close()
		return err
	}
	cert, cas, err := kubeletproxy.TLSFromPKI(&pki.Bundle{Dir: filepath.Join(cfg.DataDir, "pki")}, sc.KubeletAddress)
	if err != nil {
		l.Close()
		return err
	}
	proxy, err := kubeletproxy.New(kubeletproxy.Options{Virtual: virtual, Host: sc.Host, Translator: s.Translator(),
		ClientCAs: cas, Certificate: cert, Log: log.WithName("kubelet-proxy")})
	if err != nil {
		l.Close()
		return err
	}
	log.Info("Starting syncer", "hostNamespace", sc.HostNamespace, "host", sc.Host.Host, "kubeletProxy", l.Addr().String(),
		"networkGateImage", sc.NetworkGate.Image, "networkGateProbe", sc.NetworkGate.Probe)
	go func() {
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return s.Start(gctx) })
		g.Go(func() error { return proxy.Serve(gctx, l) })
		g.Go(func() error {
			return reportActivity(gctx, hostClient, sc.HostNamespace, lastActivity, sc.ActivityEvery, log.WithName("activity"))
		})
		if serveDNS != nil {
			g.Go(func() error { return serveDNS(gctx) })
		}
		done <- g.Wait()
	}()
	return nil
}

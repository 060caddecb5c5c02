package controlplanecmd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/go-logr/logr"
	mdns "github.com/miekg/dns"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kplex-dev/kplex/internal/dns"
	"github.com/kplex-dev/kplex/internal/syncer/pods"
	"github.com/kplex-dev/kplex/internal/syncer/services"
)

// dnsFlags are the tenant DNS server's flags; it runs with the syncer.
type dnsFlags struct {
	address   string
	upstreams []string
	domain    string
	tenantIP  string
}

// DNSConfig is a validated DNS configuration.
type DNSConfig struct {
	Address   string   // host:port served, UDP and TCP
	Upstreams []string // host:port resolvers for names outside the zone
	Domain    string   // cluster domain, without trailing dot
	// TenantIP is where pods on the host reach this server (the host Service's IP);
	// invalid: pods keep their own DNS settings.
	TenantIP netip.Addr
}

func (f *dnsFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.address, "dns-address", "", "serve the tenant's DNS on this HOST:PORT, UDP and TCP (with the syncer; empty: no DNS)")
	fs.StringSliceVar(&f.upstreams, "dns-upstream", nil, "resolvers (HOST or HOST:PORT) for names outside the cluster domain (default: the nameservers of /etc/resolv.conf)")
	fs.StringVar(&f.domain, "cluster-domain", "cluster.local", "the tenant's cluster domain")
	fs.StringVar(&f.tenantIP, "tenant-dns-ip", "", "address at which pods on the host reach the DNS server; synced pods get it as their nameserver, and the virtual cluster a kube-system/kube-dns Service with it")
}

// complete returns nil when no DNS is asked for.
func (f *dnsFlags) complete() (*DNSConfig, error) {
	if f.address == "" {
		if f.tenantIP != "" {
			return nil, fmt.Errorf("--tenant-dns-ip needs --dns-address: pods would be sent to a DNS server nobody runs")
		}
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(f.address); err != nil {
		return nil, fmt.Errorf("--dns-address %q: give HOST:PORT, e.g. 0.0.0.0:1053", f.address)
	}
	if _, ok := mdns.IsDomainName(f.domain); !ok || f.domain == "" {
		return nil, fmt.Errorf("--cluster-domain %q is not a domain name", f.domain)
	}
	c := &DNSConfig{Address: f.address, Domain: strings.TrimSuffix(strings.ToLower(f.domain), ".")}
	if f.tenantIP != "" {
		ip, err := netip.ParseAddr(f.tenantIP)
		if err != nil {
			return nil, fmt.Errorf("--tenant-dns-ip %q: give an IP address", f.tenantIP)
		}
		c.TenantIP = ip
	}
	ups := f.upstreams
	if len(ups) == 0 {
		if rc, err := mdns.ClientConfigFromFile("/etc/resolv.conf"); err == nil {
			ups = rc.Servers
		}
	}
	for _, u := range ups {
		if _, _, err := net.SplitHostPort(u); err != nil {
			u = net.JoinHostPort(u, "53")
		}
		if _, _, err := net.SplitHostPort(u); err != nil {
			return nil, fmt.Errorf("--dns-upstream %q: give HOST or HOST:PORT", u)
		}
		c.Upstreams = append(c.Upstreams, u)
	}
	return c, nil
}

// podDNS is what the syncer gives pods: the tenant's resolver, when pods can reach it.
func (c *DNSConfig) podDNS() pods.DNS {
	if c == nil || !c.TenantIP.IsValid() {
		return pods.DNS{}
	}
	return pods.DNS{Server: c.TenantIP.String(), Zone: c.Domain}
}

// newDNS prepares the tenant's DNS server on the virtual API server and returns the
// function that serves it until its context ends.
func newDNS(ctx context.Context, c *DNSConfig, virtual *rest.Config, apiHost string, log logr.Logger) (func(context.Context) error, error) {
	cs, err := kubernetes.NewForConfig(virtual)
	if err != nil {
		return nil, err
	}
	src, err := dns.NewInformerSource(cs)
	if err != nil {
		return nil, err
	}
	r := &dns.Resolver{Zone: c.Domain + ".", Source: src}
	if ip, err := netip.ParseAddr(apiHost); err == nil {
		r.APIServer = []netip.Addr{ip}
	}
	srv := &dns.Server{Resolver: r, Log: log}
	if len(c.Upstreams) > 0 {
		srv.Forwarder = dns.NewForwarder(c.Upstreams, 2*time.Second)
	} else {
		log.Info("No upstream resolver: names outside the cluster domain are refused")
	}
	return func(ctx context.Context) error {
		if c.TenantIP.IsValid() {
			go keepDNSService(ctx, cs, c.TenantIP, log)
		}
		if err := src.Start(ctx); err != nil {
			return err
		}
		log.Info("Serving DNS", "address", c.Address, "domain", c.Domain, "upstreams", c.Upstreams)
		return srv.ListenAndServe(ctx, c.Address)
	}, nil
}

// keepDNSService retries ensureDNSService until it succeeds: kube-system may not exist
// yet when the syncer starts.
func keepDNSService(ctx context.Context, cs kubernetes.Interface, ip netip.Addr, log logr.Logger) {
	err := wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		err := ensureDNSService(ctx, cs, ip)
		if err != nil {
			log.V(1).Info("kube-system/kube-dns not created yet", "err", err)
		}
		return err == nil, nil
	})
	if err != nil && ctx.Err() == nil {
		log.Error(err, "The virtual cluster has no kube-system/kube-dns Service; DNS still works for pods")
	}
}

// ensureDNSService shows the tenant a kube-system/kube-dns Service at the DNS address, for
// tools that look it up; it also keeps the virtual cluster from giving that address to
// another Service. It is never copied to the host (services.Skipped).
func ensureDNSService(ctx context.Context, cs kubernetes.Interface, ip netip.Addr) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: services.DNSServiceName,
			Labels: map[string]string{"k8s-app": "kube-dns", services.LabelComponent: services.ComponentDNS}},
		Spec: corev1.ServiceSpec{ClusterIP: ip.String(), ClusterIPs: []string{ip.String()}, Ports: []corev1.ServicePort{
			{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
			{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
		}},
	}
	_, err := cs.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service kube-system/kube-dns at %s (is it inside --service-cidr?): %w", ip, err)
	}
	return nil
}

package integration

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/internal/testenv"
	"github.com/kplex-dev/kplex/internal/translate"
)

// TestKplexdServesTenantDNS runs kplexd with the syncer and its DNS server: the tenant's
// names resolve from its own objects, the host's do not, other names go to the upstream,
// and synced pods are given this resolver.
func TestKplexdServesTenantDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	upstream := startStandinResolver(t)
	host := testenv.NewControlPlane(t, "--profile", "host")
	host.Start(ctx)
	hostAdmin := host.Client()
	hostKubeconfig := kubeconfigFile(t, grantSyncer(ctx, t, host, "kplex-dns", "test"))
	waitServiceAccount(ctx, t, hostAdmin, "kplex-dns")
	// A host Service: what another tenant's copy would look like. Never the tenant's to see.
	if _, err := hostAdmin.CoreV1().Services("kplex-dns").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "secret-db"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	dnsAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	virtual := testenv.NewControlPlane(t, "--service-cidr", virtualServiceCIDR,
		"--host-kubeconfig", hostKubeconfig, "--host-namespace", "kplex-dns", "--tenant-api-host", "10.0.0.10:443",
		"--dns-address", dnsAddr, "--tenant-dns-ip", "10.96.128.10", "--dns-upstream", upstream)
	virtual.Start(ctx)
	vAdmin := virtual.Client()
	mustNamespace(ctx, t, vAdmin, "shop")
	waitServiceAccount(ctx, t, vAdmin, "shop")
	web, err := vAdmin.CoreV1().Services("shop").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	resolve := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		var r *dns.Msg
		eventuallyQuiet(ctx, func() bool {
			r, _, err = (&dns.Client{Timeout: time.Second}).Exchange(m, dnsAddr)
			return err == nil
		})
		if err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
		return r
	}
	var got *dns.Msg
	eventually(ctx, t, "web.shop resolves to its cluster IP", func(context.Context) (bool, error) {
		got = resolve("web.shop.svc.cluster.local.", dns.TypeA)
		return len(got.Answer) == 1 && got.Answer[0].(*dns.A).A.String() == web.Spec.ClusterIP, nil
	})
	if r := resolve("_http._tcp.web.shop.svc.cluster.local.", dns.TypeSRV); len(r.Answer) != 1 || r.Answer[0].(*dns.SRV).Port != 80 {
		t.Errorf("SRV: %v", r.Answer)
	}
	if r := resolve("kubernetes.default.svc.cluster.local.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.0.0.10" {
		t.Errorf("kubernetes.default is the tenant API server as pods reach it: %v", r.Answer)
	}
	if r := resolve("secret-db.kplex-dns.svc.cluster.local.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("a host service resolved in the tenant: %s %v", dns.RcodeToString[r.Rcode], r.Answer)
	}
	if r := resolve("upstream.kplex.test.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.7" {
		t.Errorf("forwarded name: %v", r)
	}

	// The virtual cluster shows kube-dns at the DNS address; it is not copied to the host.
	kd, err := vAdmin.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || kd.Spec.ClusterIP != "10.96.128.10" {
		t.Fatalf("kube-system/kube-dns: %v %v", kd, err)
	}
	tr, err := translate.New(translate.Tenant{Name: "test", HostNamespace: "kplex-dns"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "web copied to the host", func(ctx context.Context) (bool, error) {
		_, err := hostAdmin.CoreV1().Services("kplex-dns").Get(ctx, tr.HostName("shop", "web"), metav1.GetOptions{})
		return err == nil, err
	})
	if _, err := hostAdmin.CoreV1().Services("kplex-dns").Get(ctx, tr.HostName("kube-system", "kube-dns"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("kube-dns was copied to the host: %v", err)
	}

	// A synced pod is given the tenant's resolver.
	if _, err := vAdmin.CoreV1().Pods("shop").Create(ctx, testPod("shop", "client"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var hp *corev1.Pod
	eventually(ctx, t, "host pod", func(ctx context.Context) (bool, error) {
		hp, err = hostAdmin.CoreV1().Pods("kplex-dns").Get(ctx, tr.HostName("shop", "client"), metav1.GetOptions{})
		return err == nil, err
	})
	if hp.Spec.DNSPolicy != corev1.DNSNone || hp.Spec.DNSConfig == nil || hp.Spec.DNSConfig.Nameservers[0] != "10.96.128.10" ||
		hp.Spec.DNSConfig.Searches[0] != "shop.svc.cluster.local" {
		t.Errorf("host pod DNS: %s %+v", hp.Spec.DNSPolicy, hp.Spec.DNSConfig)
	}
}

// startStandinResolver answers every A query with 192.0.2.7 on loopback.
func startStandinResolver(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if q := req.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.IPv4(192, 0, 2, 7)}}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// eventuallyQuiet retries cond for up to 30 s without failing the test.
func eventuallyQuiet(ctx context.Context, cond func() bool) {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
}

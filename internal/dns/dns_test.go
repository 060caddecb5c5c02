package dns

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"testing"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

const zone = "cluster.local."

func service(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
	if ip != corev1.ClusterIPNone {
		s.Spec.ClusterIPs = []string{ip}
	}
	return s
}

func readyEndpoint(ip, hostname string, ready bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}
	if hostname != "" {
		e.Hostname = ptr.To(hostname)
	}
	return e
}

func endpointSlice(ns, svc string, port int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-x1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("pg"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
}

// tenantObjects is a small tenant: a ClusterIP Service, a headless one with three
// endpoints (one not ready), an ExternalName, and the API server's own Service.
func tenantObjects() []runtime.Object {
	return []runtime.Object{
		service("shop", "web", "10.96.0.10", corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}),
		service("shop", "db", corev1.ClusterIPNone, corev1.ServicePort{Name: "pg", Protocol: corev1.ProtocolTCP, Port: 5432}),
		endpointSlice("shop", "db", 5432, readyEndpoint("10.244.0.5", "db-0", true), readyEndpoint("10.244.0.6", "", true), readyEndpoint("10.244.0.7", "db-2", false)),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ext"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "upstream.kplex.test"}},
		service("default", "kubernetes", "10.96.0.1", corev1.ServicePort{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443}),
	}
}

// newTestServer serves objs through real informers (on a fake clientset).
func newTestServer(t testing.TB, fwd *Forwarder, objs ...runtime.Object) *Server {
	t.Helper()
	src, err := NewInformerSource(fake.NewClientset(objs...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := src.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return &Server{
		Resolver:  &Resolver{Zone: zone, Source: src, APIServer: []netip.Addr{netip.MustParseAddr("10.213.0.20")}},
		Forwarder: fwd,
		Log:       logr.Discard(),
	}
}

func query(name string, t uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, t)
	return m
}

// records renders an answer section compactly: addresses, cname:, ptr:, srv:target:port.
func records(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.AAAA:
			out = append(out, r.AAAA.String())
		case *dns.CNAME:
			out = append(out, "cname:"+r.Target)
		case *dns.PTR:
			out = append(out, "ptr:"+r.Ptr)
		case *dns.SRV:
			out = append(out, "srv:"+r.Target+":"+strconv.Itoa(int(r.Port)))
		}
	}
	slices.Sort(out)
	return out
}

func TestClusterZone(t *testing.T) {
	s := newTestServer(t, nil, tenantObjects()...)
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string
	}{
		{"web.shop.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.96.0.10"}},
		{"WEB.Shop.SVC.cluster.LOCAL.", dns.TypeA, dns.RcodeSuccess, []string{"10.96.0.10"}},
		{"web.shop.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, nil}, // exists, no IPv6
		{"nope.shop.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"web.other.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"db.shop.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.0.5", "10.244.0.6"}}, // ready only
		{"db-0.db.shop.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.0.5"}},
		{"10-244-0-6.db.shop.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.0.6"}},
		{"db-2.db.shop.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil}, // not ready
		{"_http._tcp.web.shop.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"srv:web.shop.svc.cluster.local.:80"}},
		{"_pg._tcp.db.shop.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"srv:10-244-0-6.db.shop.svc.cluster.local.:5432", "srv:db-0.db.shop.svc.cluster.local.:5432"}},
		{"_http._udp.web.shop.svc.cluster.local.", dns.TypeSRV, dns.RcodeNameError, nil},
		{"ext.shop.svc.cluster.local.", dns.TypeCNAME, dns.RcodeSuccess, []string{"cname:upstream.kplex.test."}},
		{"kubernetes.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.213.0.20"}},
		{"10-244-1-9.shop.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.1.9"}},
		{"not-an-ip.shop.pod.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"cluster.local.", dns.TypeA, dns.RcodeSuccess, nil},
		{"svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil},
		{"a.b.c.d.e.shop.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"10.0.96.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"ptr:web.shop.svc.cluster.local."}},
		{"5.0.244.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"ptr:db-0.db.shop.svc.cluster.local."}},
		// Another tenant's address: never asked upstream (whose answer would name it).
		{"9.9.244.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, nil},
	}
	for _, tt := range tests {
		m := s.Answer(context.Background(), query(tt.name, tt.qtype))
		if m.Rcode != tt.rcode || !slices.Equal(records(m.Answer), tt.want) {
			t.Errorf("%s %s: %s %v, want %s %v", tt.name, dns.TypeToString[tt.qtype], dns.RcodeToString[m.Rcode], records(m.Answer), dns.RcodeToString[tt.rcode], tt.want)
		}
		if !m.Authoritative {
			t.Errorf("%s: not authoritative", tt.name)
		}
		if len(m.Answer) == 0 && (len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA) {
			t.Errorf("%s: negative answer without the zone's SOA: %v", tt.name, m.Ns)
		}
	}
}

func TestBadQueries(t *testing.T) {
	s := newTestServer(t, nil, tenantObjects()...)
	two := query("web.shop.svc.cluster.local.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	notify := query("web.shop.svc.cluster.local.", dns.TypeA)
	notify.Opcode = dns.OpcodeNotify
	chaos := query("version.bind.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	none := query("web.shop.svc.cluster.local.", dns.TypeA)
	none.Question = nil
	tests := []struct {
		name  string
		req   *dns.Msg
		rcode int
	}{
		{"two questions", two, dns.RcodeFormatError},
		{"no question", none, dns.RcodeFormatError},
		{"notify", notify, dns.RcodeNotImplemented},
		{"chaos class", chaos, dns.RcodeNotImplemented},
		{"zone transfer", query("cluster.local.", dns.TypeAXFR), dns.RcodeRefused},
		{"outside the zone, no upstream", query("example.org.", dns.TypeA), dns.RcodeRefused},
	}
	for _, tt := range tests {
		if m := s.Answer(context.Background(), tt.req); m.Rcode != tt.rcode {
			t.Errorf("%s: %s, want %s", tt.name, dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.rcode])
		}
	}
}

func TestTrimKeepsWhatDNSReads(t *testing.T) {
	svc := service("shop", "web", "10.96.0.10")
	svc.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"}
	svc.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	svc.Spec.Selector = map[string]string{"app": "web"}
	got, _ := trim(svc)
	g := got.(*corev1.Service)
	if g.Annotations != nil || g.ManagedFields != nil || g.Spec.Selector != nil || g.Spec.ClusterIP != "10.96.0.10" || g.Name != "web" {
		t.Errorf("trimmed service: %+v", g)
	}
}

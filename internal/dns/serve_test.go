package dns

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// upstream is a resolver on loopback that answers every A query with 192.0.2.1 (TTL 60)
// and every PTR with host.example., and counts what it is asked.
type upstream struct {
	addr    string
	queries atomic.Int32
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: pc.LocalAddr().String()}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		u.queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		switch q.Qtype {
		case dns.TypeA:
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
		case dns.TypePTR:
			m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 60}, Ptr: "host.example."}}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return u
}

func TestForwardingAndCache(t *testing.T) {
	up := startUpstream(t)
	s := newTestServer(t, NewForwarder([]string{up.addr}, 2*time.Second), tenantObjects()...)
	ctx := context.Background()

	m := s.Answer(ctx, query("www.example.org.", dns.TypeA))
	if m.Rcode != dns.RcodeSuccess || strings.Join(records(m.Answer), ",") != "192.0.2.1" || !m.RecursionAvailable {
		t.Fatalf("forwarded answer: %v", m)
	}
	m = s.Answer(ctx, query("WWW.example.org.", dns.TypeA))
	if up.queries.Load() != 1 {
		t.Errorf("the cached name was asked upstream again: %d queries", up.queries.Load())
	}
	if len(m.Answer) != 1 || m.Answer[0].Header().Ttl > 60 {
		t.Errorf("cached answer: %v", m.Answer)
	}

	// Reverse lookups: a private address that is not the tenant's is never forwarded, a
	// public one is.
	for _, name := range []string{"9.9.244.10.in-addr.arpa.", "1.0.168.192.in-addr.arpa.", "254.169.254.169.in-addr.arpa.", "1.0.0.127.in-addr.arpa."} {
		if m := s.Answer(ctx, query(name, dns.TypePTR)); m.Rcode != dns.RcodeNameError {
			t.Errorf("%s: %s, want NXDOMAIN", name, dns.RcodeToString[m.Rcode])
		}
	}
	if n := up.queries.Load(); n != 1 {
		t.Errorf("a reverse lookup of an internal address went upstream (%d queries)", n)
	}
	if m := s.Answer(ctx, query("1.2.0.192.in-addr.arpa.", dns.TypePTR)); strings.Join(records(m.Answer), ",") != "ptr:host.example." {
		t.Errorf("public reverse lookup: %v", m)
	}

	// An ExternalName service is chased through the upstream.
	m = s.Answer(ctx, query("ext.shop.svc.cluster.local.", dns.TypeA))
	if got := strings.Join(records(m.Answer), ","); got != "192.0.2.1,cname:upstream.kplex.test." {
		t.Errorf("ExternalName: %s", got)
	}
}

func TestUpstreamDown(t *testing.T) {
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	dead := pc.LocalAddr().String()
	pc.Close()
	s := newTestServer(t, NewForwarder([]string{dead}, 300*time.Millisecond))
	if m := s.Answer(context.Background(), query("example.org.", dns.TypeA)); m.Rcode != dns.RcodeServerFailure {
		t.Errorf("upstream down: %s, want SERVFAIL", dns.RcodeToString[m.Rcode])
	}
}

func TestServeUDPAndTCP(t *testing.T) {
	// A headless service with more endpoints than fit in 512 bytes.
	var eps []discoveryv1.Endpoint
	for i := range 200 {
		eps = append(eps, readyEndpoint(fmt.Sprintf("10.244.%d.%d", i/200, i%200+1), "", true))
	}
	objs := []runtime.Object{service("shop", "big", corev1.ClusterIPNone), endpointSlice("shop", "big", 80, eps...)}
	s := newTestServer(t, nil, objs...)
	addr := serve(t, s, maxTCPConns)
	udp := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	m, _, err := udp.Exchange(query("big.shop.svc.cluster.local.", dns.TypeA), addr)
	if err != nil {
		t.Fatal(err)
	}
	m.Compress = true // as it was sent
	if !m.Truncated || m.Len() > dns.MinMsgSize || len(m.Answer) >= 200 {
		t.Errorf("UDP answer of %d bytes, %d records, truncated=%v: want truncated to 512 bytes", m.Len(), len(m.Answer), m.Truncated)
	}
	m, _, err = (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(query("big.shop.svc.cluster.local.", dns.TypeA), addr)
	if err != nil || len(m.Answer) != 200 {
		t.Fatalf("TCP: %v, %d answers", err, len(m.Answer))
	}
	// Garbage, then a real query: the server is still there.
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, junk := range [][]byte{{0}, []byte("not dns at all"), make([]byte, 9000)} {
		_, _ = c.Write(junk)
	}
	c.Close()
	if _, _, err := udp.Exchange(query("big.shop.svc.cluster.local.", dns.TypeSRV), addr); err != nil {
		t.Errorf("after garbage: %v", err)
	}
}

// serve runs s on a free loopback port until the test ends and returns the address once
// it answers.
func serve(t *testing.T, s *Server, tcpConns int) string {
	t.Helper()
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.listenAndServe(ctx, addr, tcpConns) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	c := &dns.Client{Net: "udp", Timeout: 100 * time.Millisecond}
	for range 50 { // the server may not listen yet
		if _, _, err = c.Exchange(query("cluster.local.", dns.TypeSOA), addr); err == nil {
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the DNS server on %s does not answer: %v", addr, err)
	return ""
}

// FuzzAnswer: any packet that parses gets an answer that packs, without a panic.
func FuzzAnswer(f *testing.F) {
	for _, q := range []*dns.Msg{
		query("web.shop.svc.cluster.local.", dns.TypeA), query("_pg._tcp.db.shop.svc.cluster.local.", dns.TypeSRV),
		query("5.0.244.10.in-addr.arpa.", dns.TypePTR), query("ext.shop.svc.cluster.local.", dns.TypeANY),
		query("1-2-3-4.x.pod.cluster.local.", dns.TypeAAAA), query(strings.Repeat("a.", 100)+"cluster.local.", dns.TypeA),
	} {
		b, _ := q.Pack()
		f.Add(b)
	}
	s := newTestServer(f, nil, tenantObjects()...)
	f.Fuzz(func(t *testing.T, b []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(b); err != nil {
			return
		}
		m := s.Answer(context.Background(), req)
		if _, err := m.Pack(); err != nil {
			t.Fatalf("answer to %v does not pack: %v", req.Question, err)
		}
		if m.Id != req.Id {
			t.Fatal("answer id differs")
		}
	})
}

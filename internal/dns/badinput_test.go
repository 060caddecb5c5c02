package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// rawUDP sends packet and returns the reply, or nil when none comes within 300 ms.
func rawUDP(t *testing.T, addr string, packet []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(packet); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, dns.MaxMsgSize)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func packed(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// header is a DNS header with id 0x4b50, the given flags and one question.
func header(flags byte) []byte { return []byte{0x4b, 0x50, flags, 0, 0, 1, 0, 0, 0, 0, 0, 0} }

// TestWireBadInput sends what a hostile pod could: every malformed packet gets the RCODE
// it deserves (or, for a forged answer, nothing: answering answers makes loops), the
// server stays up, and no UDP answer exceeds maxUDPSize whatever the client advertises.
func TestWireBadInput(t *testing.T) {
	var eps []discoveryv1.Endpoint
	for i := range 200 {
		eps = append(eps, readyEndpoint(fmt.Sprintf("10.244.0.%d", i+1), "", true))
	}
	s := newTestServer(t, nil, append(tenantObjects(), service("shop", "big", corev1.ClusterIPNone), endpointSlice("shop", "big", 80, eps...))...)
	addr := serve(t, s, maxTCPConns)

	update := query("web.shop.svc.cluster.local.", dns.TypeA)
	update.Opcode = dns.OpcodeUpdate
	response := packed(t, query("web.shop.svc.cluster.local.", dns.TypeA))
	response[2] |= 0x80 // QR: an answer, not a query
	twoQuestions := packed(t, query("web.shop.svc.cluster.local.", dns.TypeA))
	twoQuestions[5] = 2 // the header claims two, the body has one
	label64 := append(header(1), 64)
	for range 64 {
		label64 = append(label64, 'a')
	}
	label64 = append(label64, 0, 0, 1, 0, 1)
	trailing := append(packed(t, query("web.shop.svc.cluster.local.", dns.TypeA)), make([]byte, 60000)...)
	tests := []struct {
		name   string
		packet []byte
		rcode  int // -1: no answer at all
	}{
		{"a forged answer", response, -1},
		{"dynamic update", packed(t, update), dns.RcodeNotImplemented},
		{"two questions claimed, one sent", twoQuestions, dns.RcodeFormatError},
		{"compression pointer to itself", append(header(1), 0xc0, 12, 0, 1, 0, 1), dns.RcodeFormatError},
		{"label of 64 bytes", label64, dns.RcodeFormatError},
		{"question cut short", append(header(1), 3, 'w', 'e'), dns.RcodeFormatError},
		{"60 kB of trailing garbage", trailing, dns.RcodeSuccess},
	}
	for _, tt := range tests {
		b := rawUDP(t, addr, tt.packet)
		switch {
		case tt.rcode == -1 && b != nil:
			t.Errorf("%s: answered (%d bytes)", tt.name, len(b))
		case tt.rcode == -1:
		case b == nil:
			t.Errorf("%s: no answer, want %s", tt.name, dns.RcodeToString[tt.rcode])
		case int(b[3]&0x0f) != tt.rcode || b[0] != tt.packet[0] || b[1] != tt.packet[1]:
			t.Errorf("%s: rcode %s id %x, want %s and the query's id", tt.name, dns.RcodeToString[int(b[3]&0x0f)], b[:2], dns.RcodeToString[tt.rcode])
		}
	}

	// The largest EDNS buffer a client may claim: the answer still fits maxUDPSize.
	big := query("big.shop.svc.cluster.local.", dns.TypeA)
	big.SetEdns0(dns.MaxMsgSize, false)
	if b := rawUDP(t, addr, packed(t, big)); b == nil || len(b) > maxUDPSize || b[2]&0x02 == 0 {
		t.Errorf("EDNS size %d: answer of %d bytes, want at most %d and truncated", dns.MaxMsgSize, len(b), maxUDPSize)
	}

	// TCP: a frame announcing 64 kB of garbage, then a real query on a new connection.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write(append([]byte{0xff, 0xff}, make([]byte, 0xffff)...))
	c.Close()
	if m, _, err := (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(query("web.shop.svc.cluster.local.", dns.TypeA), addr); err != nil || len(m.Answer) != 1 {
		t.Errorf("TCP after garbage: %v %v", err, m)
	}
}

// TestTCPConnectionLimit: connections beyond the limit wait until one closes, so idle
// connections cannot pile up goroutines and buffers without bound.
func TestTCPConnectionLimit(t *testing.T) {
	s := newTestServer(t, nil, tenantObjects()...)
	addr := serve(t, s, 2)
	var open []*dns.Conn
	for range 2 {
		co, err := dns.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// One exchange each, so both are accepted; they stay open for more.
		if err := co.WriteMsg(query("web.shop.svc.cluster.local.", dns.TypeA)); err != nil {
			t.Fatal(err)
		}
		if _, err := co.ReadMsg(); err != nil {
			t.Fatal(err)
		}
		open = append(open, co)
	}
	tcp := func(timeout time.Duration) error {
		_, _, err := (&dns.Client{Net: "tcp", Timeout: timeout}).Exchange(query("web.shop.svc.cluster.local.", dns.TypeA), addr)
		return err
	}
	if err := tcp(300 * time.Millisecond); err == nil {
		t.Error("a third TCP connection was served while two were open (limit 2)")
	}
	open[0].Close()
	if err := tcp(2 * time.Second); err != nil {
		t.Errorf("after one of the two closed: %v", err)
	}
	open[1].Close()
}

// TestForwarderBounds: the cache never holds more than maxEntries answers, and queries
// beyond the in-flight limit fail at once instead of waiting on a silent upstream.
func TestForwarderBounds(t *testing.T) {
	f := NewForwarder(nil, time.Second)
	for i := range maxEntries + 500 {
		m := query(fmt.Sprintf("n%d.example.", i), dns.TypeA)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: m.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
		f.store(keyOf(m), m)
	}
	if n := len(f.cache); n > maxEntries {
		t.Errorf("cache holds %d answers, limit %d", n, maxEntries)
	}

	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	f = NewForwarder([]string{silent.LocalAddr().String()}, 500*time.Millisecond)
	f.slots = make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = f.Forward(context.Background(), query(fmt.Sprintf("slow%d.example.", i), dns.TypeA))
		}()
	}
	for len(f.slots) < 2 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, err := f.Forward(context.Background(), query("third.example.", dns.TypeA)); !errors.Is(err, ErrBusy) || time.Since(start) > 100*time.Millisecond {
		t.Errorf("third query with two in flight: %v after %s, want ErrBusy at once", err, time.Since(start))
	}
	wg.Wait()
	if _, err := f.Forward(context.Background(), query("later.example.", dns.TypeA)); errors.Is(err, ErrBusy) {
		t.Error("the in-flight slots were not given back")
	}
}

package standin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"
)

func TestMetadataHandler(t *testing.T) {
	srv := httptest.NewServer(MetadataHandler(logr.Discard()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/latest/meta-data/iam/security-credentials/kplex-devhost")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), MetadataCredential) {
		t.Errorf("status %d body %q", resp.StatusCode, body)
	}
	resp, err = http.Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown path: status %d", resp.StatusCode)
	}
}

func TestDNS(t *testing.T) {
	records := DNSRecords("10.213.53.53", "169.254.169.254", "10.213.0.2")
	// Loopback with a high port stands in for the namespace address in this unit test.
	h := DNSHandler(records, logr.Discard())
	srv := &dns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: h}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ListenAndServe() //nolint:errcheck
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("DNS server did not start")
	}
	defer srv.Shutdown() //nolint:errcheck
	addr := srv.PacketConn.LocalAddr().String()
	c := new(dns.Client)
	m := new(dns.Msg)
	m.SetQuestion("upstream.kplex.test.", dns.TypeA)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.213.53.53" {
		t.Errorf("answer = %v", r.Answer)
	}
	m.SetQuestion("example.com.", dns.TypeA)
	r, _, err = c.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeNameError {
		t.Errorf("example.com rcode = %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
}

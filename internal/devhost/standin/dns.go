package standin

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"
)

// DNSZone is the zone the upstream DNS stand-in is authoritative for; every
// other name is NXDOMAIN, so nothing resolves to a real outside address.
const DNSZone = "kplex.test."

// DNSRecords are the A records of DNSZone.
func DNSRecords(upstreamIP, metadataIP, nodeIP string) map[string]string {
	return map[string]string{
		"upstream." + DNSZone: upstreamIP,
		"metadata." + DNSZone: metadataIP,
		"node." + DNSZone:     nodeIP,
	}
}

// DNSHandler answers A queries from records and NXDOMAIN for everything else.
func DNSHandler(records map[string]string, log logr.Logger) dns.Handler {
	return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		if len(req.Question) == 1 {
			q := req.Question[0]
			name := strings.ToLower(q.Name)
			log.V(2).Info("DNS query", "name", name, "type", dns.TypeToString[q.Qtype], "remote", w.RemoteAddr().String())
			ip, ok := records[name]
			switch {
			case !ok:
				m.Rcode = dns.RcodeNameError
				m.Ns = []dns.RR{soa()}
			case q.Qtype == dns.TypeA:
				m.Answer = []dns.RR{&dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
					A:   net.ParseIP(ip).To4(),
				}}
			default:
				m.Ns = []dns.RR{soa()}
			}
		} else {
			m.Rcode = dns.RcodeFormatError
		}
		_ = w.WriteMsg(m)
	})
}

func soa() dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: DNSZone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 30},
		Ns:      "ns." + DNSZone,
		Mbox:    "hostmaster." + DNSZone,
		Serial:  1,
		Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 30,
	}
}

// ServeDNS serves the stand-in on ip:53, UDP and TCP, until ctx ends.
func ServeDNS(ctx context.Context, ip string, records map[string]string, log logr.Logger) error {
	addr := net.JoinHostPort(ip, "53")
	handler := DNSHandler(records, log)
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listen for DNS stand-in (udp): %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("listen for DNS stand-in (tcp): %w", err)
	}
	servers := []*dns.Server{
		{PacketConn: pc, Handler: handler},
		{Listener: ln, Handler: handler},
	}
	for _, s := range servers {
		go func() {
			if err := s.ActivateAndServe(); err != nil && ctx.Err() == nil {
				log.Error(err, "DNS stand-in stopped")
			}
		}()
	}
	go func() {
		<-ctx.Done()
		for _, s := range servers {
			_ = s.Shutdown()
		}
	}()
	log.Info("Serving upstream DNS stand-in", "address", addr, "zone", DNSZone)
	return nil
}

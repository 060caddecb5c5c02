package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"
	"golang.org/x/net/netutil"
)

// Server answers DNS queries over UDP and TCP: the cluster zone from a Resolver,
// everything else through a Forwarder (nil: REFUSED).
type Server struct {
	Resolver  *Resolver
	Forwarder *Forwarder
	Log       logr.Logger
}

const (
	// maxUDPSize caps UDP answers whatever size the client advertises (the DNS Flag Day
	// 2020 value, which avoids IP fragmentation): larger answers are truncated and the
	// client asks again over TCP, so a forged source address gets little amplification.
	maxUDPSize = 1232
	// maxTCPConns bounds open TCP connections; more wait in the kernel's accept queue.
	maxTCPConns = 1000
)

// cgnat is 100.64.0.0/10, shared address space that netip does not call private.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := s.Answer(context.Background(), req)
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = min(int(o.UDPSize()), maxUDPSize)
		}
		m.Truncate(max(size, dns.MinMsgSize))
	}
	_ = w.WriteMsg(m)
}

// Answer is the reply to req.
func (s *Server) Answer(ctx context.Context, req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = s.Forwarder != nil
	switch {
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
		return m
	case len(req.Question) != 1:
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := req.Question[0]
	q.Name = strings.ToLower(q.Name)
	if _, ok := dns.IsDomainName(q.Name); !ok || !dns.IsFqdn(q.Name) {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		m.Rcode = dns.RcodeRefused // the zone is the tenant's objects: list them through the API
		return m
	}
	var a Answer
	switch ip, reverse := reverseAddr(q.Name); {
	case s.Resolver.InZone(q.Name):
		a = s.Resolver.Resolve(q)
	case reverse:
		if q.Qtype != dns.TypePTR && q.Qtype != dns.TypeANY {
			return s.authoritative(m, Answer{})
		}
		a = s.Resolver.Reverse(q, ip)
		if a.Rcode == dns.RcodeNameError && !internal(ip) {
			return s.forward(ctx, m, req)
		}
	default:
		return s.forward(ctx, m, req)
	}
	m = s.authoritative(m, a)
	if a.CNAME != "" && !s.Resolver.InZone(a.CNAME) && s.Forwarder != nil {
		// An ExternalName service: chase its target as a recursive resolver would.
		chase := new(dns.Msg)
		chase.SetQuestion(a.CNAME, q.Qtype)
		if r, err := s.Forwarder.Forward(ctx, chase); err == nil {
			m.Answer = append(m.Answer, r.Answer...)
		}
	}
	return m
}

// internal addresses are never looked up upstream: the host's resolver would name
// other tenants' pods and services.
func internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || cgnat.Contains(ip)
}

func (s *Server) authoritative(m *dns.Msg, a Answer) *dns.Msg {
	m.Authoritative = true
	m.Rcode = a.Rcode
	m.Answer = a.RRs
	m.Extra = a.Extra
	if len(a.RRs) == 0 {
		m.Ns = []dns.RR{s.soa()}
	}
	return m
}

func (s *Server) forward(ctx context.Context, m, req *dns.Msg) *dns.Msg {
	if s.Forwarder == nil {
		m.Rcode = dns.RcodeRefused
		return m
	}
	r, err := s.Forwarder.Forward(ctx, req)
	if err != nil {
		s.Log.V(2).Info("DNS forward failed", "name", req.Question[0].Name, "err", err)
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	r.RecursionAvailable = true
	return r
}

func (s *Server) soa() dns.RR {
	z := s.Resolver.Zone
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: z, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: DefaultTTL},
		Ns:  "ns.dns." + z, Mbox: "hostmaster." + z, Serial: 1,
		Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: DefaultTTL,
	}
}

// ListenAndServe serves on addr (UDP and TCP) until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	return s.listenAndServe(ctx, addr, maxTCPConns)
}

func (s *Server) listenAndServe(ctx context.Context, addr string, tcpConns int) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listen for DNS on %s (udp): %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("listen for DNS on %s (tcp): %w", addr, err)
	}
	servers := []*dns.Server{
		{PacketConn: pc, Handler: s, UDPSize: dns.MaxMsgSize},
		{Listener: netutil.LimitListener(ln, tcpConns), Handler: s, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }},
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, srv := range servers {
		_ = srv.Shutdown()
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("DNS server: %w", err)
	}
	return nil
}

package dns

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// DefaultTTL of the cluster zone's answers, as CoreDNS's kubernetes plugin.
const DefaultTTL = 5

// Resolver answers names in the cluster zone from a Source.
type Resolver struct {
	// Zone is the cluster domain with a trailing dot, e.g. "cluster.local.".
	Zone   string
	Source Source
	// APIServer overrides the addresses of default/kubernetes: the virtual cluster's own
	// Service IP means nothing on the host; pods reach the API server here instead.
	APIServer []netip.Addr
	TTL       uint32
}

// Answer is an authoritative answer: records, additional records and a response code.
type Answer struct {
	RRs, Extra []dns.RR
	Rcode      int
	// CNAME is an ExternalName target outside the zone, for the caller to chase.
	CNAME string
}

// InZone reports whether name (lower case, fully qualified) is the resolver's to answer.
func (r *Resolver) InZone(name string) bool {
	return dns.IsSubDomain(r.Zone, name)
}

// Resolve answers q, whose name is in the zone (lower case, fully qualified).
func (r *Resolver) Resolve(q dns.Question) Answer {
	labels := dns.SplitDomainName(strings.TrimSuffix(q.Name, r.Zone))
	switch {
	case len(labels) == 0, len(labels) == 1 && (labels[0] == "svc" || labels[0] == "pod"):
		return Answer{} // the zone and its two subtrees exist, with no records of their own
	case labels[len(labels)-1] == "svc":
		return r.service(q, labels[:len(labels)-1])
	case labels[len(labels)-1] == "pod" && len(labels) == 3:
		return r.pod(q, labels[0])
	}
	return nxdomain()
}

func nxdomain() Answer { return Answer{Rcode: dns.RcodeNameError} }

// service answers <svc>.<ns>.svc, <endpoint>.<svc>.<ns>.svc and _<port>._<proto>.<svc>.<ns>.svc.
func (r *Resolver) service(q dns.Question, l []string) Answer {
	if len(l) < 2 || len(l) > 4 {
		if len(l) == 1 {
			return Answer{} // <ns>.svc: a namespace, no records (CoreDNS answers the same)
		}
		return nxdomain()
	}
	ns, name := l[len(l)-1], l[len(l)-2]
	svc, ok := r.Source.Service(ns, name)
	if !ok {
		return nxdomain()
	}
	switch len(l) {
	case 2:
		return r.serviceRecords(q, svc)
	case 3:
		return r.endpointRecords(q, svc, l[0])
	}
	port, proto := l[0], l[1]
	if !strings.HasPrefix(port, "_") || !strings.HasPrefix(proto, "_") {
		return nxdomain()
	}
	return r.srv(q, svc, port[1:], proto[1:])
}

func (r *Resolver) serviceRecords(q dns.Question, svc *corev1.Service) Answer {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		target := dns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
		if _, ok := dns.IsDomainName(target); !ok {
			return nxdomain()
		}
		a := Answer{RRs: []dns.RR{&dns.CNAME{Hdr: r.hdr(q.Name, dns.TypeCNAME), Target: target}}}
		if q.Qtype != dns.TypeCNAME {
			a.CNAME = target
		}
		return a
	}
	var ips []netip.Addr
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		for _, ep := range r.ready(svc) {
			ips = append(ips, ep.ip)
		}
	} else if svc.Namespace == "default" && svc.Name == "kubernetes" && len(r.APIServer) > 0 {
		ips = r.APIServer
	} else {
		for _, s := range svc.Spec.ClusterIPs {
			if ip, err := netip.ParseAddr(s); err == nil {
				ips = append(ips, ip)
			}
		}
	}
	return Answer{RRs: r.addresses(q, q.Name, ips)}
}

// endpointRecords answers <endpoint>.<svc>.<ns>.svc: an endpoint's hostname, or its
// address written with dashes, as CoreDNS does.
func (r *Resolver) endpointRecords(q dns.Question, svc *corev1.Service, label string) Answer {
	var ips []netip.Addr
	for _, ep := range r.ready(svc) {
		if ep.label == label {
			ips = append(ips, ep.ip)
		}
	}
	if len(ips) == 0 {
		return nxdomain()
	}
	return Answer{RRs: r.addresses(q, q.Name, ips)}
}

func (r *Resolver) srv(q dns.Question, svc *corev1.Service, port, proto string) Answer {
	var a Answer
	found := false
	for _, p := range svc.Spec.Ports {
		if p.Name != port || !strings.EqualFold(string(p.Protocol), proto) {
			continue
		}
		found = true
		if q.Qtype != dns.TypeSRV && q.Qtype != dns.TypeANY {
			continue
		}
		svcName := svc.Name + "." + svc.Namespace + ".svc." + r.Zone
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			a.RRs = append(a.RRs, &dns.SRV{Hdr: r.hdr(q.Name, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(p.Port), Target: svcName})
			a.Extra = append(a.Extra, r.serviceRecords(dns.Question{Name: svcName, Qtype: dns.TypeANY, Qclass: dns.ClassINET}, svc).RRs...)
			continue
		}
		for _, ep := range r.ready(svc) {
			if ep.ports[port] == 0 {
				continue
			}
			target := ep.label + "." + svcName
			a.RRs = append(a.RRs, &dns.SRV{Hdr: r.hdr(q.Name, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(ep.ports[port]), Target: target})
			a.Extra = append(a.Extra, r.addresses(dns.Question{Name: target, Qtype: dns.TypeANY}, target, []netip.Addr{ep.ip})...)
		}
	}
	if !found {
		return nxdomain()
	}
	return a
}

// pod answers <a-b-c-d>.<ns>.pod with the address the name spells, as CoreDNS's
// "pods insecure" mode: it tells nothing the asker did not write.
func (r *Resolver) pod(q dns.Question, label string) Answer {
	ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", "."))
	if err != nil || !ip.Is4() {
		if ip6, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":")); err == nil && ip6.Is6() {
			return Answer{RRs: r.addresses(q, q.Name, []netip.Addr{ip6})}
		}
		return nxdomain()
	}
	return Answer{RRs: r.addresses(q, q.Name, []netip.Addr{ip})}
}

// Reverse answers a PTR query for ip from the tenant's own Services and endpoints.
func (r *Resolver) Reverse(q dns.Question, ip netip.Addr) Answer {
	var a Answer
	for _, o := range r.Source.ByIP(ip) {
		name := o.Service + "." + o.Namespace + ".svc." + r.Zone
		if o.Endpoint {
			label := o.Hostname
			if label == "" {
				label = dashed(ip)
			}
			name = label + "." + name
		}
		a.RRs = append(a.RRs, &dns.PTR{Hdr: r.hdr(q.Name, dns.TypePTR), Ptr: name})
	}
	if len(a.RRs) == 0 {
		return nxdomain()
	}
	return a
}

func (r *Resolver) addresses(q dns.Question, name string, ips []netip.Addr) []dns.RR {
	var out []dns.RR
	for _, ip := range ips {
		switch {
		case ip.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			out = append(out, &dns.A{Hdr: r.hdr(name, dns.TypeA), A: ip.AsSlice()})
		case ip.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			out = append(out, &dns.AAAA{Hdr: r.hdr(name, dns.TypeAAAA), AAAA: ip.AsSlice()})
		}
	}
	return out
}

func (r *Resolver) hdr(name string, t uint16) dns.RR_Header {
	ttl := r.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// endpoint is one ready address of a Service, with its DNS label and named ports.
type endpoint struct {
	ip    netip.Addr
	label string
	ports map[string]int32
}

// ready lists the endpoints DNS hands out: ready ones, or all when the Service publishes
// addresses that are not ready.
func (r *Resolver) ready(svc *corev1.Service) []endpoint {
	var out []endpoint
	for _, es := range r.Source.EndpointSlices(svc.Namespace, svc.Name) {
		ports := map[string]int32{}
		for _, p := range es.Ports {
			if p.Name != nil && p.Port != nil {
				ports[*p.Name] = *p.Port
			}
		}
		for _, ep := range es.Endpoints {
			if !svc.Spec.PublishNotReadyAddresses && !isReady(ep) {
				continue
			}
			for _, s := range ep.Addresses {
				ip, err := netip.ParseAddr(s)
				if err != nil {
					continue
				}
				label := ptr.Deref(ep.Hostname, "")
				if label == "" {
					label = dashed(ip)
				}
				out = append(out, endpoint{ip: ip, label: strings.ToLower(label), ports: ports})
			}
		}
	}
	return out
}

func isReady(ep discoveryv1.Endpoint) bool {
	return ep.Conditions.Ready == nil || *ep.Conditions.Ready
}

// dashed writes an address as one DNS label: 10-244-0-5, or fd00--1 for IPv6.
func dashed(ip netip.Addr) string {
	if ip.Is4() {
		return strings.ReplaceAll(ip.String(), ".", "-")
	}
	return strings.ReplaceAll(ip.String(), ":", "-")
}

// reverseAddr parses an in-addr.arpa or ip6.arpa name.
func reverseAddr(name string) (netip.Addr, bool) {
	labels := dns.SplitDomainName(name)
	switch {
	case strings.HasSuffix(name, ".in-addr.arpa.") && len(labels) == 6:
		var b [4]byte
		for i := 0; i < 4; i++ {
			n, err := strconv.ParseUint(labels[3-i], 10, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			b[i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	case strings.HasSuffix(name, ".ip6.arpa.") && len(labels) == 34:
		var b [16]byte
		for i := 0; i < 32; i++ {
			n, err := strconv.ParseUint(labels[31-i], 16, 8)
			if err != nil || len(labels[31-i]) != 1 {
				return netip.Addr{}, false
			}
			if i%2 == 0 {
				b[i/2] = byte(n) << 4
			} else {
				b[i/2] |= byte(n)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

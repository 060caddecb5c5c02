package events

import (
	"net/netip"
	"regexp"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/types"
)

// Hidden replaces what a message must not show the tenant: addresses and UIDs that are
// not its object's own.
const Hidden = "<hidden>"

// maxMessage is the longest message the API server accepts on an event with eventTime
// (events.k8s.io's note limit); every virtual event is held to it.
const maxMessage = 1024

var (
	uidPattern = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	// An IPv6 address, with an IPv4 tail (tried first) or without, and a zone.
	ipv6Pattern = regexp.MustCompile(`(?i)(?:[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){1,6}:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7})(?:%[0-9a-z]+)?`)
	ipv4Pattern = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`)
	// tokenPattern finds the words a host name could be: names contain no dots or
	// underscores, so "pod.17a3", "ns/pod" and the kubelet's "pod_ns(uid)" split into names.
	tokenPattern = regexp.MustCompile(`[A-Za-z0-9-]+`)
)

// Names resolves the host name of one of the tenant's objects to its virtual namespace
// and name; ok is false for anything else (another tenant's, the host's, a plain word).
type Names func(hostName string) (namespace, name string, ok bool)

// Rewriter turns a host component's message about one of the tenant's objects into what
// the tenant may read.
type Rewriter struct {
	HostNamespace, VirtualNamespace string
	// HostUID and VirtualUID: the object's UID on each side.
	HostUID, VirtualUID types.UID
	// Addresses the tenant already sees on its object (pod IPs, its node's IP, a
	// service's cluster IPs, load-balancer IPs); every other address is hidden.
	Addresses []string
	Names     Names
}

// Message rewrites m: the object's host UID becomes its virtual UID and any other UID is
// hidden; IP addresses other than Addresses are hidden; the host namespace becomes the
// virtual namespace and host names of the tenant's objects their virtual names (with the
// virtual namespace when it is another one). The result fits an event's message.
func (r Rewriter) Message(m string) string {
	m = uidPattern.ReplaceAllStringFunc(m, func(u string) string {
		if r.HostUID != "" && strings.EqualFold(u, string(r.HostUID)) {
			return string(r.VirtualUID)
		}
		return Hidden
	})
	keep := make(map[netip.Addr]bool, len(r.Addresses))
	for _, a := range r.Addresses {
		if ip, err := netip.ParseAddr(a); err == nil {
			keep[ip.Unmap()] = true
		}
	}
	hideIP := func(s string) string {
		ip, err := netip.ParseAddr(s)
		if err != nil || keep[ip.WithZone("").Unmap()] {
			return s // not an address (a time of day), or the object's own
		}
		return Hidden
	}
	m = ipv6Pattern.ReplaceAllStringFunc(m, func(s string) string {
		if groups(s) < 2 {
			return s // "::1" or "std::string": nothing of the host's
		}
		return hideIP(s)
	})
	m = ipv4Pattern.ReplaceAllStringFunc(m, hideIP)
	m = tokenPattern.ReplaceAllStringFunc(m, func(tok string) string {
		if tok == r.HostNamespace {
			return r.VirtualNamespace
		}
		if !strings.Contains(tok, "-") || r.Names == nil {
			return tok // every host name carries a '-' before its tenant tag or hash
		}
		ns, name, ok := r.Names(tok)
		switch {
		case !ok:
			return tok
		case ns == r.VirtualNamespace || ns == "":
			return name
		default:
			return ns + "/" + name
		}
	})
	return Truncate(m, maxMessage)
}

// groups counts the non-empty groups of an IPv6 candidate.
func groups(s string) int {
	n := 0
	for _, g := range strings.Split(s, ":") {
		if g != "" {
			n++
		}
	}
	return n
}

// Truncate cuts s to at most n bytes, on a rune boundary.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// truncateWords cuts s to at most n bytes and then back to the last space, so no partial
// word (half an address, half a name, which the rewriting would no longer recognise) is
// left at the end.
func truncateWords(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = Truncate(s, n)
	if i := strings.LastIndexAny(s, " \t\n"); i >= 0 {
		return s[:i]
	}
	return ""
}

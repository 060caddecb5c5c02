package pods

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// DNS is the tenant's DNS server as pods on the host reach it.
type DNS struct {
	Server string // an IP address
	Zone   string // the cluster domain, e.g. cluster.local
}

// hostDNS gives a host pod the tenant's resolver: what a kubelet would write into the
// pod's resolv.conf for ClusterFirst, with the host's DNS replaced by the tenant's. A pod
// that asks for the node's resolver (Default) or writes its own (None) keeps its choice;
// the pod's own dnsConfig is merged as a kubelet merges it.
func hostDNS(spec *corev1.PodSpec, namespace string, d DNS) {
	switch spec.DNSPolicy {
	case corev1.DNSDefault, corev1.DNSNone:
		return
	}
	own := spec.DNSConfig
	cfg := &corev1.PodDNSConfig{
		Nameservers: []string{d.Server},
		Searches:    []string{namespace + ".svc." + d.Zone, "svc." + d.Zone, d.Zone},
		Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("5")}},
	}
	if own != nil {
		for _, ns := range own.Nameservers {
			if !slices.Contains(cfg.Nameservers, ns) {
				cfg.Nameservers = append(cfg.Nameservers, ns)
			}
		}
		for _, s := range own.Searches {
			if !slices.Contains(cfg.Searches, s) {
				cfg.Searches = append(cfg.Searches, s)
			}
		}
		// An option the pod sets replaces the default of the same name.
		for _, o := range own.Options {
			i := slices.IndexFunc(cfg.Options, func(c corev1.PodDNSConfigOption) bool { return c.Name == o.Name })
			if i >= 0 {
				cfg.Options[i] = o
			} else {
				cfg.Options = append(cfg.Options, o)
			}
		}
	}
	spec.DNSPolicy = corev1.DNSNone
	spec.DNSConfig = cfg
}

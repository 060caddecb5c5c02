package translate

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
)

// Labels kplex sets on every host copy. Tenants cannot set them: their keys
// are moved under virtualKeyDomain (see HostLabels).
const (
	// LabelManagedBy marks objects the tenant's syncer created and owns; its
	// value is the tenant name.
	LabelManagedBy = "kplex.dev/managed-by"
	// LabelTenant names the tenant an object belongs to.
	LabelTenant = "kplex.dev/tenant"
	// LabelVirtualNamespace holds the virtual namespace, for selectors; the
	// authoritative copy is AnnotationVirtualNamespace.
	LabelVirtualNamespace = "kplex.dev/virtual-namespace"
)

const (
	// virtualKeyDomain is the prefix (or prefix suffix) of every tenant label key.
	virtualKeyDomain = "vl.kplex.dev"
	// hashedKeyDomain holds tenant keys whose prefix is too long to nest.
	hashedKeyDomain = "vlh.kplex.dev"
	// maxKeyPrefixLength is a label key prefix's limit (a DNS-1123 subdomain).
	maxKeyPrefixLength = 253
	// hashedKeyLength base32 characters: all 256 bits, the name part allows 63.
	hashedKeyLength = 51
)

// HostLabels returns the labels of the host copy of an object in
// virtualNamespace that has the virtual labels: each label's key moved under a
// kplex domain, its value unchanged, plus LabelManagedBy, LabelTenant and
// LabelVirtualNamespace. Entries with an invalid key or value, which the
// virtual API server never stores, are dropped so the result is always valid.
func (t *Translator) HostLabels(virtualNamespace string, virtual map[string]string) map[string]string {
	out := t.confinement(virtualNamespace)
	for k, v := range virtual {
		if len(content.IsLabelKey(k)) > 0 || len(content.IsLabelValue(v)) > 0 {
			continue
		}
		out[hostLabelKey(k)] = v
	}
	return out
}

// VirtualLabels returns the tenant's labels recorded in host labels, under
// their original keys; kplex's own labels are left out. Keys whose prefix is
// longer than 240 characters were hashed and cannot be recovered; they are
// left out too. It returns nil when there are none.
func VirtualLabels(host map[string]string) map[string]string {
	var out map[string]string
	for hk, v := range host {
		k, ok := virtualLabelKey(hk)
		if !ok {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(host))
		}
		out[k] = v
	}
	return out
}

// confinement returns the labels that tie a host copy to this tenant and to
// one virtual namespace.
func (t *Translator) confinement(virtualNamespace string) map[string]string {
	return map[string]string{
		LabelManagedBy:        t.tenant.Name,
		LabelTenant:           t.tenant.Name,
		LabelVirtualNamespace: namespaceLabelValue(virtualNamespace),
	}
}

// namespaceLabelValue is the namespace itself when it is a namespace name (or
// "" for cluster-scoped objects); anything else gets "h_" and a hash, which
// contains '_' and so is never a namespace name.
func namespaceLabelValue(ns string) string {
	if ns == "" || isDNS1123Label(ns) {
		return ns
	}
	return "h_" + encodeHash(digest("namespace-label", ns), hashedKeyLength)
}

// hostLabelKey maps a valid label key to its host key, injectively, never
// into kplex.dev itself:
//
//	name        -> vl.kplex.dev/name
//	prefix/name -> prefix.vl.kplex.dev/name     (prefix of at most 240)
//	prefix/name -> vlh.kplex.dev/<hash of key>  (longer prefix)
func hostLabelKey(k string) string {
	prefix, name, ok := strings.Cut(k, "/")
	switch {
	case !ok:
		return virtualKeyDomain + "/" + k
	case len(prefix)+1+len(virtualKeyDomain) <= maxKeyPrefixLength:
		return prefix + "." + virtualKeyDomain + "/" + name
	default:
		return hashedKeyDomain + "/" + encodeHash(digest("label-key", k), hashedKeyLength)
	}
}

// virtualLabelKey inverts hostLabelKey where it can.
func virtualLabelKey(hk string) (string, bool) {
	prefix, name, ok := strings.Cut(hk, "/")
	if !ok {
		return "", false
	}
	if prefix == virtualKeyDomain {
		return name, true
	}
	if p, found := strings.CutSuffix(prefix, "."+virtualKeyDomain); found && p != "" {
		return p + "/" + name, true
	}
	return "", false
}

// Package networkpolicies copies a tenant's NetworkPolicies into the host namespace,
// translated so that they select, and admit, only the tenant's own pods and public
// addresses.
//
// NetworkPolicies add up: a pod may talk to whatever any policy selecting it allows. The
// host's own policies on the tenant namespace (the isolation issue: own pods, own control
// plane, public internet) can therefore only be narrowed by a tenant policy if the tenant's
// allow rules never reach beyond what the host allows anyway. So every peer is confined:
//
//   - podSelector: the host copies of the tenant's pods of the policy's namespace that it
//     selects (translate.HostSelector); never another tenant's or a host pod.
//   - namespaceSelector: matched against the virtual namespaces' labels when the policy is
//     synced (again when namespaces change), becoming a selector over the virtual-namespace
//     label of the tenant's host pods, ANDed with the tenant's labels
//     (translate.HostSelectorIn). An empty one is every pod of the tenant, nothing more.
//   - ipBlock: kept, with every denied range (private, shared, loopback, link-local,
//     multicast: DeniedCIDRs) inside it added to except; a block wholly inside a denied
//     range allows nothing. Cluster addresses are reached through selectors only.
//   - no peers at all ("from anywhere"/"to anywhere"): every pod of the tenant plus the
//     public IPv4 and IPv6 internet, not the host's networks.
package networkpolicies

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kplex-dev/kplex/internal/syncer/copier"
	"github.com/kplex-dev/kplex/internal/translate"
)

// DeniedCIDRs are the ranges no tenant policy may allow: the host's and other tenants'
// networks (private, shared and unique-local ranges), loopback, link-local (cloud metadata
// at 169.254.169.254 and fd00:ec2::254), multicast, reserved, and the IPv6 forms that
// embed an IPv4 address (NAT64, 6to4; IPv4-mapped ones the API server refuses itself).
func DeniedCIDRs() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// Kind is the copier description of NetworkPolicies; virtual is the virtual cluster's
// cached client (namespaces are read from it).
func Kind(t *translate.Translator, virtual client.Client, denied []netip.Prefix) copier.Kind[*networkingv1.NetworkPolicy] {
	return copier.Kind[*networkingv1.NetworkPolicy]{
		Name: "networkpolicies",
		New:  func() *networkingv1.NetworkPolicy { return &networkingv1.NetworkPolicy{} },
		Copy: func(ctx context.Context, v *networkingv1.NetworkPolicy, meta metav1.ObjectMeta) (*networkingv1.NetworkPolicy, error) {
			var namespaces corev1.NamespaceList
			if usesNamespaces(v) {
				if err := virtual.List(ctx, &namespaces); err != nil {
					return nil, fmt.Errorf("list virtual namespaces for network policy %s/%s: %w", v.Namespace, v.Name, err)
				}
			}
			return HostPolicy(t, v, meta, namespaces.Items, denied)
		},
		Same: func(want, have *networkingv1.NetworkPolicy) bool {
			return equality.Semantic.DeepEqual(want.Labels, have.Labels) && equality.Semantic.DeepEqual(want.Annotations, have.Annotations) &&
				equality.Semantic.DeepEqual(want.Spec, have.Spec)
		},
		// A namespace created, deleted or relabelled changes what namespaceSelectors match.
		Triggers: []copier.Trigger{{Object: &corev1.Namespace{}, Map: func(ctx context.Context, _ client.Object) []reconcile.Request {
			var list networkingv1.NetworkPolicyList
			if err := virtual.List(ctx, &list); err != nil {
				return nil // the cache is synced before any event; nothing to do otherwise
			}
			var out []reconcile.Request
			for i := range list.Items {
				if usesNamespaces(&list.Items[i]) {
					out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}})
				}
			}
			return out
		}}},
	}
}

func usesNamespaces(p *networkingv1.NetworkPolicy) bool {
	for _, r := range p.Spec.Ingress {
		if slices.ContainsFunc(r.From, func(p networkingv1.NetworkPolicyPeer) bool { return p.NamespaceSelector != nil }) {
			return true
		}
	}
	for _, r := range p.Spec.Egress {
		if slices.ContainsFunc(r.To, func(p networkingv1.NetworkPolicyPeer) bool { return p.NamespaceSelector != nil }) {
			return true
		}
	}
	return false
}

// HostPolicy is the host copy of a virtual NetworkPolicy (see the package documentation),
// given the virtual namespaces (for namespaceSelectors) and the denied ranges.
func HostPolicy(t *translate.Translator, v *networkingv1.NetworkPolicy, meta metav1.ObjectMeta, namespaces []corev1.Namespace, denied []netip.Prefix) (*networkingv1.NetworkPolicy, error) {
	x := translation{t: t, ns: v.Namespace, namespaces: namespaces, denied: denied}
	pods, err := t.HostSelector(v.Namespace, &v.Spec.PodSelector)
	if err != nil {
		return nil, x.wrap(v, err)
	}
	h := &networkingv1.NetworkPolicy{ObjectMeta: meta, Spec: networkingv1.NetworkPolicySpec{
		PodSelector: *pods,
		PolicyTypes: slices.Clone(v.Spec.PolicyTypes),
	}}
	for _, r := range v.Spec.Ingress {
		from, err := x.peers(r.From)
		if err != nil {
			return nil, x.wrap(v, err)
		}
		h.Spec.Ingress = append(h.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{Ports: clonePorts(r.Ports), From: from})
	}
	for _, r := range v.Spec.Egress {
		to, err := x.peers(r.To)
		if err != nil {
			return nil, x.wrap(v, err)
		}
		h.Spec.Egress = append(h.Spec.Egress, networkingv1.NetworkPolicyEgressRule{Ports: clonePorts(r.Ports), To: to})
	}
	return h, nil
}

type translation struct {
	t          *translate.Translator
	ns         string
	namespaces []corev1.Namespace
	denied     []netip.Prefix
}

func (x *translation) wrap(v *networkingv1.NetworkPolicy, err error) error {
	return fmt.Errorf("translate network policy %s/%s: %w", v.Namespace, v.Name, err)
}

// peers translates a rule's peers. The result is never empty: an empty list would mean
// "anywhere" on the host.
func (x *translation) peers(in []networkingv1.NetworkPolicyPeer) ([]networkingv1.NetworkPolicyPeer, error) {
	if len(in) == 0 {
		return x.anywhere()
	}
	var out []networkingv1.NetworkPolicyPeer
	for _, p := range in {
		switch {
		case p.IPBlock != nil:
			b, err := clamp(p.IPBlock, x.denied)
			if err != nil {
				return nil, err
			}
			if b != nil {
				out = append(out, networkingv1.NetworkPolicyPeer{IPBlock: b})
			}
		case p.NamespaceSelector != nil:
			names, err := x.matching(p.NamespaceSelector)
			if err != nil {
				return nil, err
			}
			sel, err := x.t.HostSelectorIn(names, p.PodSelector)
			if err != nil {
				return nil, err
			}
			out = append(out, networkingv1.NetworkPolicyPeer{PodSelector: sel})
		case p.PodSelector != nil:
			sel, err := x.t.HostSelector(x.ns, p.PodSelector)
			if err != nil {
				return nil, err
			}
			out = append(out, networkingv1.NetworkPolicyPeer{PodSelector: sel})
		}
	}
	if len(out) == 0 {
		// Every peer allowed nothing: so must the rule.
		none, err := x.t.HostSelectorIn(nil, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, networkingv1.NetworkPolicyPeer{PodSelector: none})
	}
	return out, nil
}

// anywhere is "every peer" confined: the tenant's pods and the public internet.
func (x *translation) anywhere() ([]networkingv1.NetworkPolicyPeer, error) {
	pods, err := x.t.HostSelectorAnyNamespace(nil)
	if err != nil {
		return nil, err
	}
	out := []networkingv1.NetworkPolicyPeer{{PodSelector: pods}}
	for _, all := range []string{"0.0.0.0/0", "::/0"} {
		b, err := clamp(&networkingv1.IPBlock{CIDR: all}, x.denied)
		if err != nil {
			return nil, err
		}
		out = append(out, networkingv1.NetworkPolicyPeer{IPBlock: b})
	}
	return out, nil
}

// matching are the virtual namespaces sel selects.
func (x *translation) matching(sel *metav1.LabelSelector) ([]string, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("namespace selector: %w", err)
	}
	var out []string
	for _, ns := range x.namespaces {
		if s.Matches(labels.Set(ns.Labels)) {
			out = append(out, ns.Name)
		}
	}
	return out, nil
}

// clamp removes the denied ranges from b: nil when nothing is left.
func clamp(b *networkingv1.IPBlock, denied []netip.Prefix) (*networkingv1.IPBlock, error) {
	c, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return nil, fmt.Errorf("ipBlock cidr %q: %w", b.CIDR, err)
	}
	c = c.Masked()
	out := &networkingv1.IPBlock{CIDR: b.CIDR, Except: slices.Clone(b.Except)}
	for _, d := range denied {
		switch {
		case d.Addr().Is4() != c.Addr().Is4():
		case d.Bits() <= c.Bits() && d.Contains(c.Addr()):
			return nil, nil // wholly denied
		case c.Bits() < d.Bits() && c.Contains(d.Addr()) && !slices.Contains(out.Except, d.String()):
			out.Except = append(out.Except, d.String())
		}
	}
	return out, nil
}

func clonePorts(p []networkingv1.NetworkPolicyPort) []networkingv1.NetworkPolicyPort {
	out := make([]networkingv1.NetworkPolicyPort, len(p))
	for i := range p {
		p[i].DeepCopyInto(&out[i])
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

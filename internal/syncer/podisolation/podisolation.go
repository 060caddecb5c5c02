// Package podisolation decides which of a tenant's pods its own NetworkPolicies isolate,
// by the virtual cluster's rules, and names the host labels that say so. It is a leaf: the
// pod syncer sets the labels, the operator's host policies read them.
package podisolation

import (
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Labels the syncer sets on a host pod that a tenant NetworkPolicy isolates, in the virtual
// cluster's own terms. The operator's same-tenant allows (kplex-tenant-ingress,
// kplex-tenant-egress) select only pods without them, so an isolated pod gets what the
// tenant's translated policies allow instead. Their keys are in kplex.dev: a tenant's own
// label of that name is moved under vl.kplex.dev (translate.HostLabels), so the tenant can
// neither set nor clear them.
const (
	LabelIngressIsolated = "kplex.dev/ingress-isolated"
	LabelEgressIsolated  = "kplex.dev/egress-isolated"
)

// Isolation says in which directions NetworkPolicies isolate a pod.
type Isolation struct{ Ingress, Egress bool }

// Of is how the policies of a pod's namespace isolate a pod with podLabels in
// namespace, as a real cluster decides it: a pod is isolated for ingress (egress) when a
// policy of its namespace selects it and has policy type Ingress (Egress). Policy types
// that are not set mean Ingress, plus Egress when the policy has egress rules (the API
// server's defaulting). A policy whose selector is invalid selects nothing here, as its
// host copy, which cannot be translated, does not exist.
func Of(namespace string, podLabels map[string]string, policies []networkingv1.NetworkPolicy) Isolation {
	var iso Isolation
	for i := range policies {
		p := &policies[i]
		if p.Namespace != namespace {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(podLabels)) {
			continue
		}
		ingress, egress := policyTypes(&p.Spec)
		iso.Ingress = iso.Ingress || ingress
		iso.Egress = iso.Egress || egress
	}
	return iso
}

func policyTypes(s *networkingv1.NetworkPolicySpec) (ingress, egress bool) {
	if len(s.PolicyTypes) == 0 {
		return true, len(s.Egress) > 0
	}
	return slices.Contains(s.PolicyTypes, networkingv1.PolicyTypeIngress), slices.Contains(s.PolicyTypes, networkingv1.PolicyTypeEgress)
}

// SetLabels adds the isolation labels to a host pod's labels and removes those that no
// longer apply.
func (iso Isolation) SetLabels(l map[string]string) {
	for key, on := range map[string]bool{LabelIngressIsolated: iso.Ingress, LabelEgressIsolated: iso.Egress} {
		if on {
			l[key] = "true"
		} else {
			delete(l, key)
		}
	}
}

package podisolation

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/internal/translate"
)

func policy(ns string, sel metav1.LabelSelector, types []networkingv1.PolicyType, egressRules int) networkingv1.NetworkPolicy {
	p := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: sel, PolicyTypes: types}}
	for range egressRules {
		p.Spec.Egress = append(p.Spec.Egress, networkingv1.NetworkPolicyEgressRule{})
	}
	return p
}

func TestOf(t *testing.T) {
	in := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	out := []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	all := metav1.LabelSelector{}
	web := metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	notDB := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"db"}}}}
	hasTier := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists}}}
	invalid := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
	webPod := map[string]string{"app": "web"}
	for _, tc := range []struct {
		name     string
		pod      map[string]string
		policies []networkingv1.NetworkPolicy
		want     Isolation
	}{
		{"no policy", webPod, nil, Isolation{}},
		{"empty podSelector: every pod of the namespace", webPod, []networkingv1.NetworkPolicy{policy("shop", all, in, 0)}, Isolation{Ingress: true}},
		{"empty podSelector selects a pod without labels", nil, []networkingv1.NetworkPolicy{policy("shop", all, both, 0)}, Isolation{Ingress: true, Egress: true}},
		{"policy of another namespace", webPod, []networkingv1.NetworkPolicy{policy("blog", all, both, 1)}, Isolation{}},
		{"matchLabels selects", webPod, []networkingv1.NetworkPolicy{policy("shop", web, out, 0)}, Isolation{Egress: true}},
		{"matchLabels does not select", map[string]string{"app": "db"}, []networkingv1.NetworkPolicy{policy("shop", web, both, 0)}, Isolation{}},
		{"NotIn selects a pod without the key", nil, []networkingv1.NetworkPolicy{policy("shop", notDB, in, 0)}, Isolation{Ingress: true}},
		{"NotIn does not select a listed value", map[string]string{"app": "db"}, []networkingv1.NetworkPolicy{policy("shop", notDB, in, 0)}, Isolation{}},
		{"Exists", map[string]string{"tier": ""}, []networkingv1.NetworkPolicy{policy("shop", hasTier, in, 0)}, Isolation{Ingress: true}},
		{"types unset, no egress rules: Ingress only", webPod, []networkingv1.NetworkPolicy{policy("shop", web, nil, 0)}, Isolation{Ingress: true}},
		{"types unset, egress rules: both", webPod, []networkingv1.NetworkPolicy{policy("shop", web, nil, 1)}, Isolation{Ingress: true, Egress: true}},
		{"Egress listed without rules: deny all egress", webPod, []networkingv1.NetworkPolicy{policy("shop", all, out, 0)}, Isolation{Egress: true}},
		{"Ingress listed with egress rules: ingress only", webPod, []networkingv1.NetworkPolicy{policy("shop", all, in, 2)}, Isolation{Ingress: true}},
		{"directions add up over policies", webPod, []networkingv1.NetworkPolicy{policy("shop", web, in, 0), policy("shop", all, out, 0), policy("blog", all, both, 0)},
			Isolation{Ingress: true, Egress: true}},
		{"an invalid selector selects nothing", webPod, []networkingv1.NetworkPolicy{policy("shop", invalid, both, 0)}, Isolation{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of("shop", tc.pod, tc.policies); got != tc.want {
				t.Errorf("isolation %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestTenantCannotSetIsolation: a tenant's own label named like kplex's lands under
// vl.kplex.dev on the host, so only a policy makes a pod isolated, and a tenant label
// cannot clear what a policy set.
func TestTenantCannotSetIsolation(t *testing.T) {
	tr, err := translate.New(translate.Tenant{Name: "acme", HostNamespace: "kplex-acme"})
	if err != nil {
		t.Fatal(err)
	}
	forged := map[string]string{LabelIngressIsolated: "true", LabelEgressIsolated: "true", "app": "web"}
	host := tr.HostLabels("shop", forged)
	Of("shop", forged, nil).SetLabels(host)
	if _, ok := host[LabelIngressIsolated]; ok {
		t.Errorf("host labels %v: a tenant label isolated the pod", host)
	}
	if _, ok := host[LabelEgressIsolated]; ok {
		t.Errorf("host labels %v: a tenant label isolated the pod", host)
	}

	cleared := map[string]string{LabelIngressIsolated: "false", "app": "web"}
	host = tr.HostLabels("shop", cleared)
	deny := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}, Spec: networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	Of("shop", cleared, []networkingv1.NetworkPolicy{deny}).SetLabels(host)
	if host[LabelIngressIsolated] != "true" {
		t.Errorf("host labels %v: a tenant label cleared the isolation a policy sets", host)
	}
	if _, ok := host[LabelEgressIsolated]; ok {
		t.Errorf("host labels %v: egress isolated by an ingress-only policy", host)
	}
}

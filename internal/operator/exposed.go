package operator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/translate"
)

// A tenant that may expose Services (spec.isolation.allowNodePorts or allowLoadBalancers)
// is reachable through them by everyone who reaches the node or the load balancer, other
// tenants included. kube-proxy DNATs a node port to the pod before NetworkPolicy is
// evaluated, so both walls must let that pod-to-pod traffic through: the exposing tenant's
// ingress (one policy per exposed Service, below) and every tenant's egress (a rule of
// kplex-tenant-pods to the tenant pods of namespaces labelled LabelExposesServices). The
// operator writes both; the syncer, which a tenant may control, writes neither.
const (
	// LabelExposesServices is set to "true" by the operator on the host namespace of a
	// tenant that may expose Services. Only the operator writes namespaces of kplex's
	// (the syncer has no rights on namespaces).
	LabelExposesServices = "kplex.dev/exposes-services"
	// LabelExposedService names, on an exposure policy, the host Service it opens.
	LabelExposedService = "kplex.dev/exposed-service"
	exposedPolicyPrefix = "kplex-exposed-"
	// exposedPolicySuffix makes the policy's last name segment one no synced object has
	// (translate: 10 characters ending in two digits, or 16), so that a tenant's policy
	// named kplex-exposed-<x> never lands on the operator's.
	exposedPolicySuffix = "-ingress"
)

// ExposedPolicyName is the policy that opens host Service svc of a tenant's namespace.
func ExposedPolicyName(svc string) string { return exposedPolicyPrefix + svc + exposedPolicySuffix }

// exposesServices: the spec lets the tenant open Services beyond the host cluster.
func exposesServices(vc *v1alpha1.VirtualCluster) bool {
	return vc.Spec.Isolation.AllowNodePorts || vc.Spec.Isolation.AllowLoadBalancers
}

// exposable: svc is a host copy the tenant's syncer made, of a type the spec allows, with a
// selector (without one it has no pods to open).
func exposable(vc *v1alpha1.VirtualCluster, svc *corev1.Service) bool {
	if svc.Namespace != v1alpha1.HostNamespace(vc.Name) || svc.Labels[translate.LabelManagedBy] != vc.Name || len(svc.Spec.Selector) == 0 {
		return false
	}
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return vc.Spec.Isolation.AllowNodePorts
	case corev1.ServiceTypeLoadBalancer:
		return vc.Spec.Isolation.AllowLoadBalancers
	}
	return false
}

// exposingTenantPods is the egress peer every tenant's pods get: the tenant pods (as the
// syncer labels them, never a control plane) of namespaces the operator marked as exposing.
// The exposing namespace's ingress policies decide which of their pods and ports answer.
func exposingTenantPods() networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelExposesServices: "true", LabelManagedBy: managedBy}},
		PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: translate.LabelManagedBy, Operator: metav1.LabelSelectorOpExists},
			{Key: translate.LabelVirtualNamespace, Operator: metav1.LabelSelectorOpExists},
		}},
	}
}

// anywhere is every source: every address, and every pod of every namespace, because
// whether ipBlock covers pod addresses is left to each enforcer.
func anywhere() []networkingv1.NetworkPolicyPeer {
	return []networkingv1.NetworkPolicyPeer{
		{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}},
		{IPBlock: &networkingv1.IPBlock{CIDR: "::/0"}},
		{NamespaceSelector: &metav1.LabelSelector{}},
	}
}

// ExposedPolicies are the ingress policies that open the tenant's exposable Services: one
// per Service, because a policy's pod selector is its own and each Service selects other
// pods (one policy with a rule per Service would open every Service's ports on every
// exposed pod). Each selects the pods of the Service's selector AND the tenant's pods, so a
// Service whose selector aims at the control plane (which lacks the tenant-pod labels)
// opens nothing; it admits anyone on the Service's target ports only (named ports as
// names, which NetworkPolicy resolves against the pod's container ports).
func ExposedPolicies(vc *v1alpha1.VirtualCluster, svcs []corev1.Service) ([]*networkingv1.NetworkPolicy, error) {
	var out []*networkingv1.NetworkPolicy
	for i := range svcs {
		svc := &svcs[i]
		if !exposable(vc, svc) {
			continue
		}
		sel, err := tenantPods(vc.Name)
		if err != nil {
			return nil, err
		}
		// Requirements, not merged matchLabels: a selector key that repeats a tenant-pod
		// label with another value must select nothing, not replace the tenant's value.
		for _, k := range slices.Sorted(maps.Keys(svc.Spec.Selector)) {
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: k, Operator: metav1.LabelSelectorOpIn, Values: []string{svc.Spec.Selector[k]}})
		}
		p := networkPolicy(vc, ExposedPolicyName(svc.Name), networkingv1.NetworkPolicySpec{
			PodSelector: *sel,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: anywhere(), Ports: targetPorts(svc)}},
		})
		p.Labels[LabelExposedService] = svc.Name
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *networkingv1.NetworkPolicy) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// targetPorts are the pod ports svc sends to, each once.
func targetPorts(svc *corev1.Service) []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for _, sp := range svc.Spec.Ports {
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		target := sp.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 || target.Type == intstr.String && target.StrVal == "" {
			target = intstr.FromInt32(sp.Port) // the API server's default
		}
		p := networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto), Port: ptr.To(target)}
		if !slices.ContainsFunc(out, func(q networkingv1.NetworkPolicyPort) bool { return equality.Semantic.DeepEqual(p, q) }) {
			out = append(out, p)
		}
	}
	return out
}

// applyExposed makes the exposure policies what the tenant's Services and spec say and
// deletes the others; it returns the names of the Services it opens. Services come from the
// cache, which holds every Service labelled kplex.dev/tenant (the operator's and the
// syncer's copies).
func (r *Reconciler) applyExposed(ctx context.Context, vc *v1alpha1.VirtualCluster) ([]string, error) {
	ns := v1alpha1.HostNamespace(vc.Name)
	var svcs corev1.ServiceList
	if err := r.Client.List(ctx, &svcs, client.InNamespace(ns), client.MatchingLabels{translate.LabelManagedBy: vc.Name}); err != nil {
		return nil, fmt.Errorf("list services of virtual cluster %s in %s: %w", vc.Name, ns, err)
	}
	want, err := ExposedPolicies(vc, svcs.Items)
	if err != nil {
		return nil, err
	}
	var opened []string
	for _, p := range want {
		if err := r.apply(ctx, vc, p); err != nil {
			return nil, err
		}
		opened = append(opened, p.Labels[LabelExposedService])
	}
	var cur networkingv1.NetworkPolicyList
	if err := r.Client.List(ctx, &cur, client.InNamespace(ns), client.HasLabels{LabelExposedService}); err != nil {
		return nil, fmt.Errorf("list exposure policies in %s: %w", ns, err)
	}
	for i := range cur.Items {
		p := &cur.Items[i]
		// Only the operator's own: never a copy the syncer labelled to look like one.
		if !metav1.IsControlledBy(p, vc) || p.Labels[translate.LabelManagedBy] != "" ||
			slices.ContainsFunc(want, func(w *networkingv1.NetworkPolicy) bool { return w.Name == p.Name }) {
			continue
		}
		if err := r.Client.Delete(ctx, p); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("delete network policy %s/%s: %w", ns, p.Name, err)
		}
	}
	return opened, nil
}

// tenantOfService maps an event of a syncer's host Service in kplex-<name> to
// VirtualCluster <name>: by namespace, which the syncer cannot choose, not by label.
func tenantOfService(_ context.Context, o client.Object) []reconcile.Request {
	name, ok := strings.CutPrefix(o.GetNamespace(), v1alpha1.HostNamespace(""))
	if !ok || name == "" || o.GetLabels()[translate.LabelManagedBy] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
}

// exposureChanged passes the syncer's Service events that can change an exposure policy:
// creations, deletions, and updates of type, selector, ports or labels (not status).
func exposureChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*corev1.Service)
		n, ok2 := e.ObjectNew.(*corev1.Service)
		if !ok1 || !ok2 {
			return true
		}
		return o.Spec.Type != n.Spec.Type || !equality.Semantic.DeepEqual(o.Spec.Selector, n.Spec.Selector) ||
			!equality.Semantic.DeepEqual(o.Spec.Ports, n.Spec.Ports) || !equality.Semantic.DeepEqual(o.Labels, n.Labels)
	}}
}

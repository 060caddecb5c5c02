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
// kplex-tenant-egress to the tenant pods of namespaces labelled LabelExposesServices). The
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

// syncerCopyWithPods: svc is a host copy the tenant's syncer made, with a selector
// (without one it has no pods to open).
func syncerCopyWithPods(vc *v1alpha1.VirtualCluster, svc *corev1.Service) bool {
	return svc.Namespace == v1alpha1.HostNamespace(vc.Name) && svc.Labels[translate.LabelManagedBy] == vc.Name && len(svc.Spec.Selector) > 0
}

// exposable: svc is a syncer's copy with pods, of a type the spec allows.
func exposable(vc *v1alpha1.VirtualCluster, svc *corev1.Service) bool {
	if !syncerCopyWithPods(vc, svc) {
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

// exposedService is one host Service of the tenant and who may reach its pods: everyone on
// all its target ports (public: a NodePort or LoadBalancer the spec allows), and the
// ingress controllers on the target ports of ingressPorts (the ports its Ingresses name).
type exposedService struct {
	svc          *corev1.Service
	public       bool
	ingressPorts []corev1.ServicePort
}

// exposedServices are the tenant's Services that something may reach from outside it. A
// Service an Ingress leads to counts while the spec allows Ingresses and the host admin
// named its ingress controllers.
func exposedServices(vc *v1alpha1.VirtualCluster, svcs []corev1.Service, ings []networkingv1.Ingress, ctrls IngressControllers) []exposedService {
	var backends map[string][]networkingv1.ServiceBackendPort
	if vc.Spec.Isolation.AllowIngresses && ctrls.Configured() {
		backends = ingressBackends(tenantIngresses(vc, ings))
	}
	var out []exposedService
	for i := range svcs {
		e := exposedService{svc: &svcs[i], public: exposable(vc, &svcs[i])}
		if syncerCopyWithPods(vc, e.svc) {
			e.ingressPorts = backendPorts(e.svc, backends[e.svc.Name])
		}
		if e.public || len(e.ingressPorts) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// ExposedPolicies are the ingress policies that open the tenant's exposed Services (those
// it publishes, and those its Ingresses lead to): one per Service, because a policy's pod
// selector is its own and each Service selects other pods (one policy with a rule per
// Service would open every Service's ports on every exposed pod); a rule per source
// (anyone; the ingress controllers). Each selects the pods of the Service's selector AND
// the tenant's pods, so a Service whose selector aims at the control plane (which lacks
// the tenant-pod labels) opens nothing; it admits on the Service's target ports only
// (named ports as names, which NetworkPolicy resolves against the pod's container ports).
func ExposedPolicies(vc *v1alpha1.VirtualCluster, svcs []corev1.Service, ings []networkingv1.Ingress, ctrls IngressControllers) ([]*networkingv1.NetworkPolicy, error) {
	return exposedPolicies(vc, exposedServices(vc, svcs, ings, ctrls), ctrls)
}

func exposedPolicies(vc *v1alpha1.VirtualCluster, exposed []exposedService, ctrls IngressControllers) ([]*networkingv1.NetworkPolicy, error) {
	var out []*networkingv1.NetworkPolicy
	for _, e := range exposed {
		svc := e.svc
		var rules []networkingv1.NetworkPolicyIngressRule
		if e.public {
			rules = append(rules, networkingv1.NetworkPolicyIngressRule{From: anywhere(), Ports: targetPorts(svc.Spec.Ports)})
		}
		if len(e.ingressPorts) > 0 {
			rules = append(rules, networkingv1.NetworkPolicyIngressRule{From: ctrls.peers(), Ports: targetPorts(e.ingressPorts)})
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
			Ingress:     rules,
		})
		p.Labels[LabelExposedService] = svc.Name
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *networkingv1.NetworkPolicy) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// targetPorts are the pod ports a Service sends to through ports, each once.
func targetPorts(ports []corev1.ServicePort) []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for _, sp := range ports {
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

// applyExposed makes the exposure policies what the tenant's Services, Ingresses and spec
// say and deletes the others; it returns what they open, for IsolationReady. Services and
// Ingresses come from the cache, which holds every Service labelled kplex.dev/tenant (the
// operator's and the syncer's copies) and every Ingress labelled kplex.dev/managed-by.
func (r *Reconciler) applyExposed(ctx context.Context, vc *v1alpha1.VirtualCluster) (string, error) {
	ns := v1alpha1.HostNamespace(vc.Name)
	var svcs corev1.ServiceList
	if err := r.Client.List(ctx, &svcs, client.InNamespace(ns), client.MatchingLabels{translate.LabelManagedBy: vc.Name}); err != nil {
		return "", fmt.Errorf("list services of virtual cluster %s in %s: %w", vc.Name, ns, err)
	}
	var ings networkingv1.IngressList
	if err := r.Client.List(ctx, &ings, client.InNamespace(ns), client.MatchingLabels{translate.LabelManagedBy: vc.Name}); err != nil {
		return "", fmt.Errorf("list ingresses of virtual cluster %s in %s: %w", vc.Name, ns, err)
	}
	if !vc.Spec.Isolation.AllowIngresses {
		// The tenant's syncer removes them too; a syncer the tenant took over would not,
		// and its Ingresses would keep their host names on the shared controllers.
		for i := range ings.Items {
			ing := &ings.Items[i]
			if err := r.Client.Delete(ctx, ing, client.Preconditions{UID: &ing.UID}); client.IgnoreNotFound(err) != nil {
				return "", fmt.Errorf("delete ingress %s/%s, as spec.isolation.allowIngresses is false: %w", ns, ing.Name, err)
			}
		}
	}
	exposed := exposedServices(vc, svcs.Items, ings.Items, r.IngressControllers)
	want, err := exposedPolicies(vc, exposed, r.IngressControllers)
	if err != nil {
		return "", err
	}
	for _, p := range want {
		if err := r.apply(ctx, vc, p); err != nil {
			return "", err
		}
	}
	var cur networkingv1.NetworkPolicyList
	if err := r.Client.List(ctx, &cur, client.InNamespace(ns), client.HasLabels{LabelExposedService}); err != nil {
		return "", fmt.Errorf("list exposure policies in %s: %w", ns, err)
	}
	for i := range cur.Items {
		p := &cur.Items[i]
		// Only the operator's own: never a copy the syncer labelled to look like one.
		if !metav1.IsControlledBy(p, vc) || p.Labels[translate.LabelManagedBy] != "" ||
			slices.ContainsFunc(want, func(w *networkingv1.NetworkPolicy) bool { return w.Name == p.Name }) {
			continue
		}
		if err := r.Client.Delete(ctx, p); client.IgnoreNotFound(err) != nil {
			return "", fmt.Errorf("delete network policy %s/%s: %w", ns, p.Name, err)
		}
	}
	return exposureReport(vc, exposed, tenantIngresses(vc, ings.Items), r.IngressControllers), nil
}

// exposureReport says, for IsolationReady, which Services are open to whom, and why the
// tenant's Ingresses reach nothing when they do.
func exposureReport(vc *v1alpha1.VirtualCluster, exposed []exposedService, ings []*networkingv1.Ingress, ctrls IngressControllers) string {
	var public, viaIngress, out []string
	for _, e := range exposed {
		if e.public {
			public = append(public, e.svc.Name)
		}
		if len(e.ingressPorts) > 0 {
			viaIngress = append(viaIngress, e.svc.Name)
		}
	}
	if len(public) > 0 {
		out = append(out, fmt.Sprintf("Services reachable from other tenants and outside the cluster on their target ports: %s (NetworkPolicies %s<service>%s)",
			strings.Join(public, ", "), exposedPolicyPrefix, exposedPolicySuffix))
	}
	if len(viaIngress) > 0 {
		out = append(out, fmt.Sprintf("Services reachable from the ingress controllers (namespaces %s) on the target ports the tenant's Ingresses name: %s",
			strings.Join(ctrls.Namespaces, ", "), strings.Join(viaIngress, ", ")))
	}
	if len(ings) > 0 {
		var names []string
		for _, i := range ings {
			names = append(names, i.Name)
		}
		switch {
		case !vc.Spec.Isolation.AllowIngresses:
			out = append(out, fmt.Sprintf("Ingresses %s removed from the host: spec.isolation.allowIngresses is false", strings.Join(names, ", ")))
		case !ctrls.Configured():
			out = append(out, fmt.Sprintf("Ingresses %s reach no pod: the operator does not know where the host's ingress controllers run (kplexd operator --ingress-controller-namespace, kplex install --ingress-controller-namespace)", strings.Join(names, ", ")))
		}
	}
	return strings.Join(out, "; ")
}

// tenantOfCopy maps an event of a syncer's host Service or Ingress in kplex-<name> to
// VirtualCluster <name>: by namespace, which the syncer cannot choose, not by label.
func tenantOfCopy(_ context.Context, o client.Object) []reconcile.Request {
	name, ok := strings.CutPrefix(o.GetNamespace(), v1alpha1.HostNamespace(""))
	if !ok || name == "" || o.GetLabels()[translate.LabelManagedBy] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
}

// exposureChanged passes the syncer's Service events that can change an exposure policy:
// creations, deletions, and updates of type, selector, ports or labels (not status).
func exposureChanged() predicate.Funcs {
	return updatesWhen(func(o, n *corev1.Service) bool {
		return o.Spec.Type != n.Spec.Type || !equality.Semantic.DeepEqual(o.Spec.Selector, n.Spec.Selector) ||
			!equality.Semantic.DeepEqual(o.Spec.Ports, n.Spec.Ports) || !equality.Semantic.DeepEqual(o.Labels, n.Labels)
	})
}

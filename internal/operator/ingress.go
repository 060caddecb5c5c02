package operator

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/syncer/ingresses"
	"github.com/kplex-dev/kplex/internal/translate"
)

// A tenant's Ingress is served by the host's ingress controllers, which proxy from their
// own pods (in the host admin's namespaces) to the pods of the Ingress's backend Services.
// kplex-default-deny stops that connection, so the operator admits the controllers' pods,
// and only them, to the backend pods and ports of the Ingresses the tenant's syncer copied:
// one more rule in the Service's kplex-exposed-<service>-ingress policy (exposed.go). The
// host admin says where the controllers run (kplexd operator --ingress-controller-*);
// without that, nothing is opened.

// IngressControllers says where the host's ingress controllers run.
type IngressControllers struct {
	// Namespaces of the controllers' pods, sorted; none: no controller, nothing opened.
	Namespaces []string
	// Pods selects the controllers' pods in those namespaces; nil: every pod there.
	Pods *metav1.LabelSelector
}

// Help of the flags that say where the ingress controllers run (kplexd operator and kplex
// install have the same).
const (
	IngressNamespaceFlag = "ingress-controller-namespace"
	IngressSelectorFlag  = "ingress-controller-selector"
	IngressNamespaceHelp = "namespace of the host's ingress controller, whose pods may reach the pods behind the tenants' Ingresses (repeatable; none: tenants' Ingresses reach nothing)"
	IngressSelectorHelp  = "labels of the ingress controller's pods in those namespaces, e.g. app.kubernetes.io/name=ingress-nginx (default: every pod there)"
)

// NewIngressControllers checks the operator's --ingress-controller-namespace and
// --ingress-controller-selector flags.
func NewIngressControllers(namespaces []string, selector string) (IngressControllers, error) {
	var c IngressControllers
	for _, ns := range namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return c, fmt.Errorf("invalid --ingress-controller-namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		// Tenants' pods run in kplex-<name>: naming one would open every tenant's
		// Ingress backends to that tenant.
		if strings.HasPrefix(ns, v1alpha1.HostNamespace("")) {
			return c, fmt.Errorf("invalid --ingress-controller-namespace %q: kplex-* namespaces hold kplex and its tenants, not an ingress controller; name the namespace the host's ingress controller runs in", ns)
		}
		if !slices.Contains(c.Namespaces, ns) {
			c.Namespaces = append(c.Namespaces, ns)
		}
	}
	slices.Sort(c.Namespaces)
	if selector == "" {
		return c, nil
	}
	if len(c.Namespaces) == 0 {
		return c, fmt.Errorf("--ingress-controller-selector %q needs --ingress-controller-namespace: the selector picks pods in those namespaces", selector)
	}
	sel, err := metav1.ParseToLabelSelector(selector)
	if err != nil {
		return c, fmt.Errorf("invalid --ingress-controller-selector %q (want labels such as app.kubernetes.io/name=ingress-nginx): %w", selector, err)
	}
	c.Pods = sel
	return c, nil
}

// Configured: the host admin named where its ingress controllers run.
func (c IngressControllers) Configured() bool { return len(c.Namespaces) > 0 }

// peers are the controllers' pods: by the namespace's name, which only the host sets.
func (c IngressControllers) peers() []networkingv1.NetworkPolicyPeer {
	pods := c.Pods
	if pods == nil {
		pods = &metav1.LabelSelector{}
	}
	return []networkingv1.NetworkPolicyPeer{{
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: slices.Clone(c.Namespaces)}}},
		PodSelector: pods.DeepCopy(),
	}}
}

// tenantIngresses are the host Ingresses of vc's syncer: in its namespace, with its label.
// Anything else in that namespace (the syncer may write any Ingress there) is judged the
// same way, since every backend is looked up in the tenant's own namespace only.
func tenantIngresses(vc *v1alpha1.VirtualCluster, ings []networkingv1.Ingress) []*networkingv1.Ingress {
	var out []*networkingv1.Ingress
	for i := range ings {
		if ings[i].Namespace == v1alpha1.HostNamespace(vc.Name) && ings[i].Labels[translate.LabelManagedBy] == vc.Name {
			out = append(out, &ings[i])
		}
	}
	return out
}

// ingressBackends maps each host Service the Ingresses send to (default and rule
// backends; resource backends lead to no Service) to the Service ports they name. An
// Ingress backend has no namespace: it is always a Service of the Ingress's own namespace.
func ingressBackends(ings []*networkingv1.Ingress) map[string][]networkingv1.ServiceBackendPort {
	out := map[string][]networkingv1.ServiceBackendPort{}
	for _, ing := range ings {
		for _, b := range ingresses.Backends(&ing.Spec) {
			if b.Service != nil && !slices.Contains(out[b.Service.Name], b.Service.Port) {
				out[b.Service.Name] = append(out[b.Service.Name], b.Service.Port)
			}
		}
	}
	return out
}

// backendPorts are the TCP ports of svc that refs name, by number or by name (an ingress
// controller proxies HTTP, over TCP); a reference to a port the Service lacks leads
// nowhere and opens nothing.
func backendPorts(svc *corev1.Service, refs []networkingv1.ServiceBackendPort) []corev1.ServicePort {
	var out []corev1.ServicePort
	for _, sp := range svc.Spec.Ports {
		if (sp.Protocol == "" || sp.Protocol == corev1.ProtocolTCP) && slices.ContainsFunc(refs, func(r networkingv1.ServiceBackendPort) bool {
			return r.Name != "" && r.Name == sp.Name || r.Name == "" && r.Number == sp.Port
		}) {
			out = append(out, sp)
		}
	}
	return out
}

// ingressChanged passes the syncer's Ingress events that can change a policy: creations,
// deletions, and updates of spec or labels (not the controllers' status updates).
func ingressChanged() predicate.Funcs {
	return updatesWhen(func(o, n *networkingv1.Ingress) bool {
		return !equality.Semantic.DeepEqual(o.Spec, n.Spec) || !equality.Semantic.DeepEqual(o.Labels, n.Labels)
	})
}

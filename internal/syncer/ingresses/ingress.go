// Package ingresses copies a tenant's Ingresses into the host namespace, for the host's
// ingress controllers: backends and TLS secrets renamed to their host copies (the TLS
// secrets are copied while an ingress uses them), the class kept, the load balancer status
// copied back.
//
// The tenant's annotations are not copied: ingress controllers act on them, and some
// (configuration snippets) have been a way to run arbitrary configuration in a shared
// controller. Host names in rules are copied as they are: which tenant may serve which
// host name is for the host's ingress controller and admission policy to decide.
package ingresses

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/internal/syncer/copier"
	"github.com/kplex-dev/kplex/internal/translate"
)

// Kind is the copier description of Ingresses for one tenant.
func Kind(t *translate.Translator) copier.Kind[*networkingv1.Ingress] {
	return copier.Kind[*networkingv1.Ingress]{
		Name: "ingresses",
		New:  func() *networkingv1.Ingress { return &networkingv1.Ingress{} },
		Copy: func(_ context.Context, v *networkingv1.Ingress, meta metav1.ObjectMeta) (*networkingv1.Ingress, error) {
			return HostIngress(t, v, meta), nil
		},
		Same: func(want, have *networkingv1.Ingress) bool {
			return equality.Semantic.DeepEqual(want.Labels, have.Labels) && equality.Semantic.DeepEqual(want.Annotations, have.Annotations) &&
				equality.Semantic.DeepEqual(want.Spec, have.Spec)
		},
		// The host's controllers keep their finalizers and status.
		Merge: func(want, have *networkingv1.Ingress) *networkingv1.Ingress {
			upd := have.DeepCopy()
			upd.Labels, upd.Annotations, upd.Spec = want.Labels, want.Annotations, want.Spec
			return upd
		},
		Status: func(virtual, host *networkingv1.Ingress) bool {
			if equality.Semantic.DeepEqual(virtual.Status.LoadBalancer, host.Status.LoadBalancer) {
				return false
			}
			virtual.Status.LoadBalancer = *host.Status.LoadBalancer.DeepCopy()
			return true
		},
	}
}

// HostIngress is the host copy of a virtual Ingress: every name of a namespaced object
// (service and resource backends, TLS secrets) renamed to its host copy.
func HostIngress(t *translate.Translator, v *networkingv1.Ingress, meta metav1.ObjectMeta) *networkingv1.Ingress {
	s := v.Spec.DeepCopy()
	for _, b := range Backends(s) {
		if b.Service != nil {
			b.Service.Name = t.HostName(v.Namespace, b.Service.Name)
		}
		if b.Resource != nil {
			b.Resource.Name = t.HostName(v.Namespace, b.Resource.Name)
		}
	}
	for i := range s.TLS {
		if s.TLS[i].SecretName != "" {
			s.TLS[i].SecretName = t.HostName(v.Namespace, s.TLS[i].SecretName)
		}
	}
	return &networkingv1.Ingress{ObjectMeta: meta, Spec: *s}
}

// Backends are the backends of s, the default one and every rule path's, as pointers into s.
func Backends(s *networkingv1.IngressSpec) []*networkingv1.IngressBackend {
	var out []*networkingv1.IngressBackend
	if s.DefaultBackend != nil {
		out = append(out, s.DefaultBackend)
	}
	for i := range s.Rules {
		if h := s.Rules[i].HTTP; h != nil {
			for j := range h.Paths {
				out = append(out, &h.Paths[j].Backend)
			}
		}
	}
	return out
}

// TLSSecrets are the names of the Secrets an ingress uses for TLS.
func TLSSecrets(i *networkingv1.Ingress) []string {
	s := sets.New[string]()
	for _, tls := range i.Spec.TLS {
		if tls.SecretName != "" {
			s.Insert(tls.SecretName)
		}
	}
	return sets.List(s)
}

// SecretUsers are ingresses as users of Secrets: a TLS secret is copied while an ingress
// uses it.
func SecretUsers() copier.Users {
	return copier.Users{
		New:     func() client.Object { return &networkingv1.Ingress{} },
		NewList: func() client.ObjectList { return &networkingv1.IngressList{} },
		Refs:    func(o client.Object) []string { return TLSSecrets(o.(*networkingv1.Ingress)) },
	}
}

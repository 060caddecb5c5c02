package ingresses

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/translate"
)

func TestHostIngress(t *testing.T) {
	tr, err := translate.New(translate.Tenant{Name: "acme", HostNamespace: "kplex-acme"})
	if err != nil {
		t.Fatal(err)
	}
	svc := func(name string) networkingv1.IngressBackend {
		return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: 80}}}
	}
	web, api := svc("web"), svc("api")
	v := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "front", Annotations: map[string]string{
			"nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers x;"}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			DefaultBackend:   &web,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: "shop-tls"}, {SecretName: "shop-tls"}, {Hosts: []string{"x"}}},
			Rules: []networkingv1.IngressRule{{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/api", Backend: api}, {Path: "/b", Backend: networkingv1.IngressBackend{
					Resource: &corev1.TypedLocalObjectReference{APIGroup: ptr.To("k8s.example.com"), Kind: "Bucket", Name: "assets"}}}},
			}}}},
		},
	}
	h := HostIngress(tr, v, tr.HostMeta(v))
	rn := func(n string) string { return tr.HostName("shop", n) }
	s := h.Spec
	if *s.IngressClassName != "nginx" || s.DefaultBackend.Service.Name != rn("web") || s.DefaultBackend.Service.Port.Number != 80 {
		t.Errorf("class/default backend = %v %+v", s.IngressClassName, s.DefaultBackend)
	}
	paths := s.Rules[0].HTTP.Paths
	if s.Rules[0].Host != "shop.example.com" || paths[0].Backend.Service.Name != rn("api") || paths[1].Backend.Resource.Name != rn("assets") {
		t.Errorf("rules = %+v", s.Rules)
	}
	if s.TLS[0].SecretName != rn("shop-tls") || s.TLS[2].SecretName != "" {
		t.Errorf("tls = %+v", s.TLS)
	}
	if _, ok := h.Annotations["nginx.ingress.kubernetes.io/configuration-snippet"]; ok {
		t.Error("a controller annotation of the tenant reached the host")
	}
	if v.Spec.DefaultBackend.Service.Name != "web" {
		t.Error("the virtual ingress was modified")
	}
	if got := TLSSecrets(v); !slices.Equal(got, []string{"shop-tls"}) {
		t.Errorf("TLSSecrets = %v", got)
	}
}

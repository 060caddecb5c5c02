package operator

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/translate"
)

func TestNewIngressControllers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		namespaces []string
		selector   string
		want       string // namespaces "|" selector, or the error's words
		fails      bool
	}{
		{name: "none", want: "|"},
		{name: "one, every pod", namespaces: []string{"ingress-nginx"}, want: "ingress-nginx|"},
		{name: "several, repeated, with a selector", namespaces: []string{"traefik", "ingress-nginx", "traefik"}, selector: "app.kubernetes.io/name=ingress-nginx",
			want: "ingress-nginx,traefik|app.kubernetes.io/name=ingress-nginx"},
		{name: "not a namespace name", namespaces: []string{"Ingress_NGINX"}, want: "invalid --ingress-controller-namespace \"Ingress_NGINX\"", fails: true},
		{name: "a tenant's namespace", namespaces: []string{"kplex-a"}, want: "kplex-* namespaces hold kplex and its tenants", fails: true},
		{name: "kplex's own namespace", namespaces: []string{"kplex-system"}, want: "kplex-* namespaces", fails: true},
		{name: "selector without namespace", selector: "app=x", want: "needs --ingress-controller-namespace", fails: true},
		{name: "bad selector", namespaces: []string{"ingress-nginx"}, selector: "app in (x", want: "invalid --ingress-controller-selector \"app in (x\"", fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewIngressControllers(tc.namespaces, tc.selector)
			if tc.fails {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one saying %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(c.Namespaces, ",") + "|"
			if c.Pods != nil {
				got += metav1.FormatLabelSelector(c.Pods)
			}
			if got != tc.want || c.Configured() != (len(tc.namespaces) > 0) {
				t.Errorf("controllers %q configured %v, want %q", got, c.Configured(), tc.want)
			}
		})
	}
}

// hostIngress is tenant b's host copy of an Ingress, as its syncer writes it.
func hostIngress(name string, def *networkingv1.IngressBackend, paths ...networkingv1.IngressBackend) networkingv1.Ingress {
	i := networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "kplex-b", Name: name,
		Labels: map[string]string{translate.LabelManagedBy: "b", translate.LabelTenant: "b"}},
		Spec: networkingv1.IngressSpec{DefaultBackend: def}}
	if len(paths) > 0 {
		h := &networkingv1.HTTPIngressRuleValue{}
		for _, b := range paths {
			h.Paths = append(h.Paths, networkingv1.HTTPIngressPath{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: b})
		}
		i.Spec.Rules = []networkingv1.IngressRule{{Host: "b.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: h}}}
	}
	return i
}

func toService(name string, port networkingv1.ServiceBackendPort) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: port}}
}

// TestIngressPolicies: the pods behind the Services a tenant's Ingresses name are opened to
// the configured controllers' pods only, on the target ports of the Service ports the
// Ingresses name; whatever a hostile syncer writes opens no other pod, port or peer.
func TestIngressPolicies(t *testing.T) {
	pods := hostPodsOf(t)
	web := map[string]string{"app": "web"}
	ctrls, err := NewIngressControllers([]string{"ingress-system"}, "app=controller")
	if err != nil {
		t.Fatal(err)
	}
	allow := func(s *v1alpha1.VirtualClusterSpec) { s.Isolation.AllowIngresses = true }
	cp := StatefulSet(vc("b", nil), "10.96.0.1", "10.96.0.2", ControlPlaneDefaults{Image: "img"}).Spec.Template.Labels
	const webSvc, cpSvc, npSvc = "web-default-0123456789", "cp-default-0123456789", "np-default-0123456789"
	svcs := []corev1.Service{
		hostService(t, webSvc, corev1.ServiceTypeClusterIP, web, nil,
			corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)},
			corev1.ServicePort{Name: "admin", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9090)},
			corev1.ServicePort{Name: "web", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("https")},
			corev1.ServicePort{Name: "udp", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)}),
		// A syncer the tenant took over aims a Service at its control plane.
		hostService(t, cpSvc, corev1.ServiceTypeClusterIP, nil, cp),
		hostService(t, npSvc, corev1.ServiceTypeNodePort, web, nil),
		*Service(vc("b", nil)), // the operator's API Service: not the syncer's
	}
	foreign := hostIngress("foreign", ptr.To(toService(webSvc, networkingv1.ServiceBackendPort{Number: 9090})))
	foreign.Namespace = "kplex-a"
	unlabelled := hostIngress("unlabelled", ptr.To(toService(webSvc, networkingv1.ServiceBackendPort{Number: 9090})))
	unlabelled.Labels = nil
	ings := []networkingv1.Ingress{
		hostIngress("front", ptr.To(toService(webSvc, networkingv1.ServiceBackendPort{Number: 80})),
			toService(webSvc, networkingv1.ServiceBackendPort{Name: "web"}),
			toService(webSvc, networkingv1.ServiceBackendPort{Number: 53}),   // UDP only: an ingress controller speaks TCP
			toService(webSvc, networkingv1.ServiceBackendPort{Number: 8443}), // no such Service port
			networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{APIGroup: ptr.To("k8s.example.com"), Kind: "Bucket", Name: webSvc}},
			toService(cpSvc, networkingv1.ServiceBackendPort{Number: 80}),
			toService(ServiceName, networkingv1.ServiceBackendPort{Number: 443}),
			toService(npSvc, networkingv1.ServiceBackendPort{Number: 80})),
		foreign, unlabelled,
	}
	nsLabels := func(name string) labels.Set { return labels.Set{corev1.LabelMetadataName: name} }

	t.Run("allowed and configured", func(t *testing.T) {
		got, err := ExposedPolicies(vc("b", func(s *v1alpha1.VirtualClusterSpec) { allow(s); s.Isolation.AllowNodePorts = true }), svcs, ings, ctrls)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]*networkingv1.NetworkPolicy{}
		for _, p := range got {
			byName[p.Labels[LabelExposedService]] = p
		}
		if len(byName) != 3 || byName[webSvc] == nil || byName[cpSvc] == nil || byName[npSvc] == nil {
			t.Fatalf("policies for %v, want %s, %s and %s", slices.Collect(func(yield func(string) bool) {
				for k := range byName {
					yield(k)
				}
			}), webSvc, cpSvc, npSvc)
		}
		for _, tc := range []struct {
			svc, applies string
			rules        []string // "public" or "controllers", with the ports of each
		}{
			{webSvc, "b:web", []string{"controllers TCP/8080,TCP/https"}},
			{cpSvc, "", []string{"controllers TCP/8080"}}, // the control plane lacks the tenant-pod labels
			{npSvc, "b:web", []string{"public TCP/8080", "controllers TCP/8080"}},
		} {
			p := byName[tc.svc]
			if p.Name != ExposedPolicyName(tc.svc) || p.Labels[translate.LabelManagedBy] != "" {
				t.Errorf("policy %s labels %v", p.Name, p.Labels)
			}
			if applies := strings.Join(selects(t, &p.Spec.PodSelector, pods), "+"); applies != tc.applies {
				t.Errorf("%s applies to %q, want %q", tc.svc, applies, tc.applies)
			}
			var rules []string
			for _, r := range p.Spec.Ingress {
				var ports []string
				for _, np := range r.Ports {
					ports = append(ports, string(*np.Protocol)+"/"+np.Port.String())
				}
				from := "public"
				if len(r.From) == 1 && r.From[0].NamespaceSelector != nil && len(r.From[0].NamespaceSelector.MatchExpressions) == 1 {
					from = "controllers"
					ns, err := metav1.LabelSelectorAsSelector(r.From[0].NamespaceSelector)
					if err != nil {
						t.Fatal(err)
					}
					pod, err := metav1.LabelSelectorAsSelector(r.From[0].PodSelector)
					if err != nil {
						t.Fatal(err)
					}
					if !ns.Matches(nsLabels("ingress-system")) || ns.Matches(nsLabels("kplex-a")) || ns.Matches(nsLabels("default")) ||
						!pod.Matches(labels.Set{"app": "controller"}) || pod.Matches(labels.Set{"app": "other"}) {
						t.Errorf("%s: controllers peer %+v admits other namespaces or pods", tc.svc, r.From[0])
					}
				}
				rules = append(rules, from+" "+strings.Join(ports, ","))
			}
			if !slices.Equal(rules, tc.rules) {
				t.Errorf("%s rules %q, want %q", tc.svc, rules, tc.rules)
			}
		}
	})
	for _, tc := range []struct {
		name  string
		spec  func(*v1alpha1.VirtualClusterSpec)
		ctrls IngressControllers
	}{
		{"Ingresses not allowed", nil, ctrls},
		{"no controller configured", allow, IngressControllers{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExposedPolicies(vc("b", tc.spec), svcs, ings, tc.ctrls)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 0 {
				t.Errorf("%d policies, want none: nothing is open to an ingress controller", len(got))
			}
		})
	}
}

// TestExposureReport: IsolationReady says what is open, and why Ingresses reach nothing.
func TestExposureReport(t *testing.T) {
	ctrls, err := NewIngressControllers([]string{"ingress-system"}, "")
	if err != nil {
		t.Fatal(err)
	}
	svc := hostService(t, "web-default-0123456789", corev1.ServiceTypeClusterIP, map[string]string{"app": "web"}, nil)
	ing := hostIngress("front-default-0123456789", ptr.To(toService(svc.Name, networkingv1.ServiceBackendPort{Number: 80})))
	allow := func(s *v1alpha1.VirtualClusterSpec) { s.Isolation.AllowIngresses = true }
	for _, tc := range []struct {
		name  string
		spec  func(*v1alpha1.VirtualClusterSpec)
		ctrls IngressControllers
		want  string
	}{
		{"served", allow, ctrls, "reachable from the ingress controllers (namespaces ingress-system) on the target ports the tenant's Ingresses name: web-default-0123456789"},
		{"not allowed", nil, ctrls, "Ingresses front-default-0123456789 removed from the host: spec.isolation.allowIngresses is false"},
		{"no controller", allow, IngressControllers{}, "reach no pod: the operator does not know where the host's ingress controllers run (kplexd operator --ingress-controller-namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := vc("b", tc.spec)
			ings := []networkingv1.Ingress{ing}
			got := exposureReport(v, exposedServices(v, []corev1.Service{svc}, ings, tc.ctrls), tenantIngresses(v, ings), tc.ctrls)
			if !strings.Contains(got, tc.want) {
				t.Errorf("report %q, want it to say %q", got, tc.want)
			}
		})
	}
}

// TestNamespaceAllowsIngresses: the syncer guard lets a tenant's syncer write Ingresses in
// its namespace only while the operator labels it, which it does while the spec allows them.
func TestNamespaceAllowsIngresses(t *testing.T) {
	if got := Namespace(vc("b", nil)).Labels[install.NamespaceAllowsIngresses]; got != "" {
		t.Errorf("default spec: namespace label %q, want none", got)
	}
	allowed := Namespace(vc("b", func(s *v1alpha1.VirtualClusterSpec) { s.Isolation.AllowIngresses = true }))
	if got := allowed.Labels[install.NamespaceAllowsIngresses]; got != "true" {
		t.Errorf("Ingresses allowed: namespace label %q, want true", got)
	}
}

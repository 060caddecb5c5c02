package operator

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/translate"
)

// hostService is tenant b's host copy of a Service, as its syncer writes it: selector
// translated from the virtual one in namespace default, unless raw gives the host selector.
func hostService(t *testing.T, name string, typ corev1.ServiceType, virtualSel, raw map[string]string, ports ...corev1.ServicePort) corev1.Service {
	t.Helper()
	tr, err := translate.New(translate.Tenant{Name: "b", HostNamespace: "kplex-b"})
	if err != nil {
		t.Fatal(err)
	}
	sel := raw
	if virtualSel != nil {
		if sel, err = tr.HostSelectorMap("default", virtualSel); err != nil {
			t.Fatal(err)
		}
	}
	if len(ports) == 0 {
		ports = []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}
	}
	return corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kplex-b", Name: name, Labels: tr.HostLabels("default", nil)},
		Spec:       corev1.ServiceSpec{Type: typ, Selector: sel, Ports: ports},
	}
}

func TestExposedPolicies(t *testing.T) {
	pods := hostPodsOf(t)
	web := map[string]string{"app": "web"}
	nodePorts := func(s *v1alpha1.VirtualClusterSpec) { s.Isolation.AllowNodePorts = true }
	loadBalancers := func(s *v1alpha1.VirtualClusterSpec) { s.Isolation.AllowLoadBalancers = true }
	cp := StatefulSet(vc("b", nil), "10.96.0.1", "10.96.0.2", ControlPlaneDefaults{Image: "img"}).Spec.Template.Labels
	foreign := hostService(t, "web-default-0123456789", corev1.ServiceTypeNodePort, web, nil)
	foreign.Namespace = "kplex-a"
	operatorAPI := *Service(vc("b", func(s *v1alpha1.VirtualClusterSpec) { s.Expose.Type = v1alpha1.ExposeNodePort }))
	for _, tc := range []struct {
		name string
		spec func(*v1alpha1.VirtualClusterSpec)
		svc  corev1.Service
		// applies lists the pods (hostPodsOf) the policy selects; "" with no policy wanted.
		applies, ports string
		noPolicy       bool
	}{
		{name: "NodePort allowed: the selected pod, on the target port, from anywhere", spec: nodePorts,
			svc: hostService(t, "web-default-0123456789", corev1.ServiceTypeNodePort, web, nil), applies: "b:web", ports: "TCP/8080"},
		{name: "NodePort not allowed", spec: loadBalancers,
			svc: hostService(t, "web-default-0123456789", corev1.ServiceTypeNodePort, web, nil), noPolicy: true},
		{name: "LoadBalancer allowed", spec: loadBalancers,
			svc: hostService(t, "web-default-0123456789", corev1.ServiceTypeLoadBalancer, web, nil), applies: "b:web", ports: "TCP/8080"},
		{name: "LoadBalancer with node ports allowed only", spec: nodePorts,
			svc: hostService(t, "web-default-0123456789", corev1.ServiceTypeLoadBalancer, web, nil), noPolicy: true},
		{name: "ClusterIP", spec: func(s *v1alpha1.VirtualClusterSpec) { nodePorts(s); loadBalancers(s) },
			svc: hostService(t, "web-default-0123456789", corev1.ServiceTypeClusterIP, web, nil), noPolicy: true},
		{name: "no selector exposes nothing", spec: nodePorts,
			svc: hostService(t, "web-default-0123456789", corev1.ServiceTypeNodePort, nil, nil), noPolicy: true},
		{name: "named, defaulted and repeated target ports", spec: nodePorts,
			svc: hostService(t, "web-default-0123456789", corev1.ServiceTypeNodePort, web, nil,
				corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")},
				corev1.ServicePort{Name: "alt", Port: 81, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")},
				corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
				corev1.ServicePort{Name: "raw", Port: 9000}),
			applies: "b:web", ports: "TCP/http,UDP/53,TCP/9000"},
		// A syncer the tenant took over writes host selectors of its choice.
		{name: "selector aimed at the control plane selects nothing", spec: nodePorts,
			svc: hostService(t, "cp-default-0123456789", corev1.ServiceTypeNodePort, nil, cp), applies: "", ports: "TCP/8080"},
		{name: "selector aimed at the control plane and a tenant label selects nothing", spec: nodePorts,
			svc: hostService(t, "cp-default-0123456789", corev1.ServiceTypeNodePort, nil,
				map[string]string{"app.kubernetes.io/name": ControlPlaneName, translate.LabelManagedBy: "b"}), applies: "", ports: "TCP/8080"},
		{name: "selector naming another tenant's labels selects nothing", spec: nodePorts,
			svc: hostService(t, "x-default-0123456789", corev1.ServiceTypeNodePort, nil,
				map[string]string{translate.LabelManagedBy: "a", translate.LabelTenant: "a"}), applies: "", ports: "TCP/8080"},
		{name: "the forged control plane is a tenant pod", spec: nodePorts,
			svc: hostService(t, "x-default-0123456789", corev1.ServiceTypeNodePort, cp, nil), applies: "b:forged-controlplane", ports: "TCP/8080"},
		{name: "another tenant's namespace", spec: nodePorts, svc: foreign, noPolicy: true},
		{name: "the operator's API Service (not the syncer's)", spec: nodePorts, svc: operatorAPI, noPolicy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExposedPolicies(vc("b", tc.spec), []corev1.Service{tc.svc}, nil, IngressControllers{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.noPolicy {
				if len(got) != 0 {
					t.Fatalf("policies %+v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d policies, want 1", len(got))
			}
			p := got[0]
			if p.Namespace != "kplex-b" || p.Name != "kplex-exposed-"+tc.svc.Name+"-ingress" || p.Labels[LabelManagedBy] != managedBy ||
				p.Labels[LabelExposedService] != tc.svc.Name || p.Labels[translate.LabelManagedBy] != "" {
				t.Errorf("policy %s/%s labels %v", p.Namespace, p.Name, p.Labels)
			}
			if !slices.Equal(p.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
				t.Errorf("policy types %v, want Ingress only", p.Spec.PolicyTypes)
			}
			if applies := strings.Join(selects(t, &p.Spec.PodSelector, pods), "+"); applies != tc.applies {
				t.Errorf("applies to %q, want %q", applies, tc.applies)
			}
			if len(p.Spec.Ingress) != 1 {
				t.Fatalf("ingress %+v, want one rule", p.Spec.Ingress)
			}
			if in, want := peersOf(t, p.Spec.Ingress[0].From, p.Spec.Ingress[0].Ports, pods), "0.0.0.0/0,::/0,every-ns ports "+tc.ports; in != want {
				t.Errorf("ingress %q, want %q", in, want)
			}
		})
	}
}

// TestExposingNamespace: every tenant's egress reaches the pods of namespaces the operator
// labels while their spec lets them expose Services, and no other namespace.
func TestExposingNamespace(t *testing.T) {
	objs, err := NetworkPolicies(vc("a", nil), HostAPI{})
	if err != nil {
		t.Fatal(err)
	}
	var peer *metav1.LabelSelector
	for _, o := range objs {
		if o.GetName() == PolicyTenantEgress {
			eg := o.(*networkingv1.NetworkPolicy).Spec.Egress
			peer = eg[len(eg)-1].To[0].NamespaceSelector
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(peer)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ns   labels.Set
		want bool
	}{
		{"node ports allowed", Namespace(vc("b", func(s *v1alpha1.VirtualClusterSpec) { s.Isolation.AllowNodePorts = true })).Labels, true},
		{"load balancers allowed", Namespace(vc("b", func(s *v1alpha1.VirtualClusterSpec) { s.Isolation.AllowLoadBalancers = true })).Labels, true},
		{"default spec", Namespace(vc("b", nil)).Labels, false},
		{"API exposed, Services not", Namespace(vc("b", func(s *v1alpha1.VirtualClusterSpec) { s.Expose.Type = v1alpha1.ExposeNodePort })).Labels, false},
		{"a namespace not kplex's, labelled by its owner", labels.Set{LabelExposesServices: "true"}, false},
	} {
		if got := sel.Matches(tc.ns); got != tc.want {
			t.Errorf("%s: namespace %v selected %v, want %v", tc.name, tc.ns, got, tc.want)
		}
	}
}

func TestTenantOfCopy(t *testing.T) {
	synced := hostService(t, "web-default-0123456789", corev1.ServiceTypeNodePort, map[string]string{"app": "web"}, nil)
	if got := tenantOfCopy(context.Background(), &synced); len(got) != 1 || got[0].Name != "b" || got[0].Namespace != "" {
		t.Errorf("synced Service of kplex-b: %v, want virtual cluster b", got)
	}
	// The label is the syncer's to write; the namespace is not.
	synced.Labels[translate.LabelTenant] = "a"
	if got := tenantOfCopy(context.Background(), &synced); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("relabelled Service of kplex-b: %v, want virtual cluster b", got)
	}
	for _, svc := range []*corev1.Service{
		Service(vc("b", nil)), // the operator's: its own watch
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "x", Labels: map[string]string{translate.LabelManagedBy: "b"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "kplex-", Name: "x", Labels: map[string]string{translate.LabelManagedBy: "b"}}},
	} {
		if got := tenantOfCopy(context.Background(), svc); len(got) != 0 {
			t.Errorf("Service %s/%s: %v, want no virtual cluster", svc.Namespace, svc.Name, got)
		}
	}
}

package audit

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/operator"
	"github.com/kplex-dev/kplex/internal/translate"
)

// exposedFixture is tenant b allowed node ports, as its syncer and the operator make it.
type exposedFixture struct {
	t  *testing.T
	tr *translate.Translator
	vc *v1alpha1.VirtualCluster
}

func newExposedFixture(t *testing.T) *exposedFixture {
	tr, err := translate.New(translate.Tenant{Name: "b", HostNamespace: v1alpha1.HostNamespace("b")})
	if err != nil {
		t.Fatal(err)
	}
	vc := &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: "b"}}
	vc.Spec.Isolation.AllowNodePorts = true
	return &exposedFixture{t: t, tr: tr, vc: vc}
}

// pod is a running host copy of virtual pod app=<app> with the given TCP ports (named
// http for the first).
func (f *exposedFixture) pod(app, ip string, ports ...int32) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kplex-b", Name: app, Labels: f.tr.HostLabels("default", map[string]string{"app": app})},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip}}
	for i, port := range ports {
		cp := corev1.ContainerPort{ContainerPort: port, Protocol: corev1.ProtocolTCP}
		if i == 0 {
			cp.Name = "http"
		}
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, cp)
	}
	return p
}

// service is the host copy of virtual Service name of type typ, selecting app, port 80 to
// target.
func (f *exposedFixture) service(name string, typ corev1.ServiceType, app, ip string, target intstr.IntOrString) *corev1.Service {
	sel, err := f.tr.HostSelectorMap("default", map[string]string{"app": app})
	if err != nil {
		f.t.Fatal(err)
	}
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "kplex-b", Name: name, Labels: f.tr.HostLabels("default", nil)},
		Spec: corev1.ServiceSpec{Type: typ, ClusterIP: ip, Selector: sel,
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: target}}}}
}

// exposure is what the operator opens for svcs.
func (f *exposedFixture) exposure(svcs ...*corev1.Service) exposure {
	var in []corev1.Service
	for _, s := range svcs {
		in = append(in, *s)
	}
	pols, err := operator.ExposedPolicies(f.vc, in, nil, operator.IngressControllers{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out exposure
	for _, p := range pols {
		out = append(out, *p)
	}
	return out
}

// TestAuditAimsAroundExposedPorts: the pod and Service the network checks aim at are never
// ones the other tenant exposes on purpose, with the operator's real exposure policies.
func TestAuditAimsAroundExposedPorts(t *testing.T) {
	f := newExposedFixture(t)
	web := f.pod("web", "10.244.0.5", 8080, 9090) // published on 8080, also listens on 9090
	only := f.pod("only", "10.244.0.6", 8080)     // published on its one port
	db := f.pod("db", "10.244.0.7", 5432)         // not published
	pubWeb := f.service("pub-web", corev1.ServiceTypeNodePort, "web", "10.96.0.20", intstr.FromInt32(8080))
	pubOnly := f.service("pub-only", corev1.ServiceTypeNodePort, "only", "10.96.0.21", intstr.FromString("http"))
	inWeb := f.service("in-web", corev1.ServiceTypeClusterIP, "web", "10.96.0.22", intstr.FromInt32(8080))
	inWeb9090 := f.service("in-web-9090", corev1.ServiceTypeClusterIP, "web", "10.96.0.23", intstr.FromInt32(9090))
	inDB := f.service("in-db", corev1.ServiceTypeClusterIP, "db", "10.96.0.24", intstr.FromInt32(5432))
	x := f.exposure(pubWeb, pubOnly, inWeb, inDB)
	if len(x) != 2 {
		t.Fatalf("%d exposure policies, want one per NodePort Service", len(x))
	}

	for _, tc := range []struct {
		what string
		pods []*corev1.Pod
		want string // address, or a part of the reason to skip
		note bool
	}{
		{"an unpublished pod first", []*corev1.Pod{only, web, db}, "10.244.0.7:5432", true},
		{"a published pod's other declared port", []*corev1.Pod{only, web}, "10.244.0.5:9090", true},
		{"a published pod's undeclared port", []*corev1.Pod{only}, "10.244.0.6:80", true},
		{"nothing published", []*corev1.Pod{db}, "10.244.0.7:5432", false},
	} {
		got, why, ok := x.pickPod("b", tc.pods)
		if !ok || got.addr != tc.want || (got.note != "") != tc.note {
			t.Errorf("%s: %+v %q %v, want %s (note %v)", tc.what, got, why, ok, tc.want, tc.note)
		}
		if tc.note && !strings.Contains(got.note, "pub-") {
			t.Errorf("%s: note %q does not name the exposed Service", tc.what, got.note)
		}
	}
	// Published on every port: nothing to aim at, never a FAIL.
	all := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{operator.LabelExposedService: "pub-all"}},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{translate.LabelTenant: "b"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}}
	if got, why, ok := append(x, all).pickPod("b", []*corev1.Pod{web, db}); ok || !strings.Contains(why, "pub-all") || !strings.Contains(why, "by design") {
		t.Errorf("every port of every pod published: %+v %q %v, want a skip naming Service pub-all", got, why, ok)
	}

	pods := []*corev1.Pod{web, only, db}
	for _, tc := range []struct {
		what string
		svcs []*corev1.Service
		want string
	}{
		{"a Service to an unpublished port", []*corev1.Service{pubWeb, inWeb, inWeb9090}, "10.96.0.23:80"},
		{"a Service to an unpublished pod", []*corev1.Service{pubOnly, inDB}, "10.96.0.24:80"},
	} {
		if got, why, ok := x.pickService("b", tc.svcs, pods); !ok || got.addr != tc.want || !strings.Contains(got.note, "pub-") {
			t.Errorf("%s: %+v %q %v, want %s with a note naming the published Service", tc.what, got, why, ok, tc.want)
		}
	}
	if got, why, ok := x.pickService("b", []*corev1.Service{pubWeb, pubOnly, inWeb}, pods); ok || !strings.Contains(why, "pub-web, pub-only") {
		t.Errorf("every Service leads to published ports: %+v %q %v, want a skip naming pub-web and pub-only", got, why, ok)
	}
	if got, why, ok := f.exposure().pickService("b", []*corev1.Service{pubWeb}, pods); !ok || got.addr != "10.96.0.20:80" || got.note != "" {
		t.Errorf("nothing published: %+v %q %v, want the NodePort Service itself", got, why, ok)
	}

	// What only the ingress controllers may reach is no publication to other tenants: still aimed at.
	f.vc.Spec.Isolation.AllowIngresses = true
	ctrls, err := operator.NewIngressControllers([]string{"ingress-system"}, "")
	if err != nil {
		t.Fatal(err)
	}
	ing := networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "kplex-b", Name: "front", Labels: map[string]string{translate.LabelManagedBy: "b"}},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: inDB.Name,
			Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
	pols, err := operator.ExposedPolicies(f.vc, []corev1.Service{*inDB}, []networkingv1.Ingress{ing}, ctrls)
	if err != nil || len(pols) != 1 {
		t.Fatalf("policies %v %v, want one for the Ingress's backend", pols, err)
	}
	if got, why, ok := (exposure{*pols[0]}).pickPod("b", []*corev1.Pod{db}); !ok || got.addr != "10.244.0.7:5432" || got.note != "" {
		t.Errorf("a pod behind an Ingress only: %+v %q %v, want it aimed at, no note", got, why, ok)
	}
}

package integration

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/operator"
	"github.com/kplex-dev/kplex/internal/testenv"
	"github.com/kplex-dev/kplex/internal/translate"
)

// TestOperatorIsolationIngresses: with the host's ingress controller named to the operator,
// the Ingresses a tenant's syncer copies open the pods of their backend Services to the
// controller's pods, on the target ports the Ingresses name only; a backend Service aimed at
// the control plane opens nothing; the opening follows the Ingress and the spec, and
// IsolationReady says why an Ingress reaches nothing.
func TestOperatorIsolationIngresses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t.Run("a tenant namespace named as the controller's is refused at start", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, testenv.Binary(t, "kplexd"), "operator", "--ingress-controller-namespace=kplex-a").CombinedOutput()
		if err == nil || !strings.Contains(string(out), `invalid --ingress-controller-namespace "kplex-a"`) {
			t.Errorf("kplexd operator --ingress-controller-namespace=kplex-a: %v %s, want refused naming the flag", err, out)
		}
	})

	e := newOperatorEnv(ctx, t, "--ingress-controller-namespace=ingress-system", "--ingress-controller-selector=app=controller")
	const name, ns = "ing", "kplex-ing"
	spec := v1alpha1.VirtualClusterSpec{}
	spec.Isolation.AllowIngresses = true
	e.create(ctx, name, spec)
	e.waitCondition(ctx, name, v1alpha1.ConditionIsolation, metav1.ConditionTrue, v1alpha1.ReasonIsolated, v1alpha1.PhaseProvisioning)
	e.waitFor(ctx, "kplexd allows Ingresses", 30*time.Second, func(ctx context.Context) (bool, string) {
		sts := &appsv1.StatefulSet{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.ControlPlaneName}, sts); err != nil {
			return false, err.Error()
		}
		args := sts.Spec.Template.Spec.Containers[0].Args
		return slices.Contains(args, "--allow-ingresses"), fmt.Sprintf("args %v", args)
	})

	// The Services and the Ingress as the tenant's syncer writes them, with its own identity.
	tr, err := translate.New(translate.Tenant{Name: name, HostNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	webSel, err := tr.HostSelectorMap("default", map[string]string{"app": "web"})
	if err != nil {
		t.Fatal(err)
	}
	cpLabels := operator.StatefulSet(e.get(ctx, name), "10.96.0.1", "10.96.0.2", operator.ControlPlaneDefaults{Image: "img"}).Spec.Template.Labels
	syncer := e.serviceAccountClient(ctx, ns, operator.ControlPlaneName)
	web, cp, front := tr.HostName("default", "web"), tr.HostName("default", "cp"), tr.HostName("default", "front")
	for _, s := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: web, Labels: tr.HostLabels("default", nil)}, Spec: corev1.ServiceSpec{Selector: webSel, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)},
			{Name: "admin", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9090)}}}},
		// A syncer the tenant took over aims a Service at its control plane's API port.
		{ObjectMeta: metav1.ObjectMeta{Name: cp, Labels: tr.HostLabels("default", nil)}, Spec: corev1.ServiceSpec{Selector: cpLabels, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(6443)}}}},
	} {
		if _, err := syncer.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatalf("the syncer creates Service %s: %v", s.Name, err)
		}
	}
	backend := func(svc string, port networkingv1.ServiceBackendPort) networkingv1.IngressBackend {
		return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}}
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: front, Labels: tr.HostLabels("default", nil)},
		Spec: networkingv1.IngressSpec{
			DefaultBackend: ptr.To(backend(web, networkingv1.ServiceBackendPort{Name: "http"})),
			Rules: []networkingv1.IngressRule{{Host: "ing.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{
					{Path: "/api", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: backend(cp, networkingv1.ServiceBackendPort{Number: 80})},
					{Path: "/kube", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: backend(operator.ServiceName, networkingv1.ServiceBackendPort{Number: 443})},
				}}}}},
		}}
	ings := syncer.NetworkingV1().Ingresses(ns)
	if ing, err = ings.Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the syncer creates Ingress %s: %v", front, err)
	}

	pols := e.waitExposed(ctx, ns, "one policy per backend Service of the syncer's", web, cp)
	webPod := labels.Set(tr.HostLabels("default", map[string]string{"app": "web"}))
	controller := func(nsName string, pod labels.Set) func(networkingv1.NetworkPolicyPeer) bool {
		return func(p networkingv1.NetworkPolicyPeer) bool {
			nsSel, err1 := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
			podSel, err2 := metav1.LabelSelectorAsSelector(p.PodSelector)
			return err1 == nil && err2 == nil && p.NamespaceSelector != nil && p.PodSelector != nil &&
				nsSel.Matches(labels.Set{corev1.LabelMetadataName: nsName}) && podSel.Matches(pod)
		}
	}
	for _, tc := range []struct {
		svc  string
		pod  labels.Set
		want bool
		port string
	}{
		{web, webPod, true, "8080"},
		{cp, labels.Set(cpLabels), false, "6443"}, // the control plane lacks the tenant-pod labels
	} {
		p := pols[operator.ExposedPolicyName(tc.svc)]
		if !wantExposedPolicy(t, p, tc.pod, tc.want, tc.port) {
			continue
		}
		from := p.Spec.Ingress[0].From
		if len(from) != 1 || !slices.ContainsFunc(from, controller("ingress-system", labels.Set{"app": "controller"})) ||
			slices.ContainsFunc(from, controller("ingress-system", labels.Set{"app": "other"})) ||
			slices.ContainsFunc(from, controller(ns, webPod)) || slices.ContainsFunc(from, controller("kplex-other", webPod)) {
			t.Errorf("policy %s admits %+v, want the controller's pods only", p.Name, from)
		}
	}
	e.waitFor(ctx, "IsolationReady names the Services the controllers reach", 30*time.Second, func(ctx context.Context) (bool, string) {
		msg := meta.FindStatusCondition(e.get(ctx, name).Status.Conditions, v1alpha1.ConditionIsolation).Message
		return strings.Contains(msg, "reachable from the ingress controllers (namespaces ingress-system)") && strings.Contains(msg, web), msg
	})

	t.Run("the opening follows the Ingress", func(t *testing.T) {
		ing.Spec.Rules = nil
		ing.Spec.DefaultBackend.Service.Port = networkingv1.ServiceBackendPort{Number: 9090}
		if _, err := ings.Update(ctx, ing, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("the syncer updates Ingress %s: %v", front, err)
		}
		pols := e.waitExposed(ctx, ns, "the Service no longer named closed", web)
		e.waitFor(ctx, "the port follows the Ingress", 30*time.Second, func(ctx context.Context) (bool, string) {
			p := &networkingv1.NetworkPolicy{}
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(pols[operator.ExposedPolicyName(web)]), p); err != nil {
				return false, err.Error()
			}
			return len(p.Spec.Ingress) == 1 && len(p.Spec.Ingress[0].Ports) == 1 && p.Spec.Ingress[0].Ports[0].Port.String() == "9090",
				fmt.Sprintf("ingress %+v", p.Spec.Ingress)
		})
	})

	t.Run("the opening follows the spec", func(t *testing.T) {
		vc := e.get(ctx, name)
		patch := client.MergeFrom(vc.DeepCopy())
		vc.Spec.Isolation.AllowIngresses = false
		if err := e.c.Patch(ctx, vc, patch); err != nil {
			t.Fatal(err)
		}
		e.waitExposed(ctx, ns, "Ingresses no longer allowed: nothing open")
		// The operator removes the copy itself: this syncer (the tenant's, perhaps taken
		// over) need not, and cannot write it again.
		e.waitFor(ctx, "the host copy of Ingress "+front+" removed", 30*time.Second, func(ctx context.Context) (bool, string) {
			_, err := ings.Get(ctx, front, metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		again := ing.DeepCopy()
		again.ResourceVersion, again.UID = "", ""
		if _, err := ings.Create(ctx, again, metav1.CreateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "allowIngresses") {
			t.Errorf("the syncer recreates Ingress %s while not allowed: %v; want forbidden, naming spec.isolation.allowIngresses", front, err)
		}
		vc = e.get(ctx, name)
		patch = client.MergeFrom(vc.DeepCopy())
		vc.Spec.Isolation.AllowIngresses = true
		if err := e.c.Patch(ctx, vc, patch); err != nil {
			t.Fatal(err)
		}
		e.waitFor(ctx, "allowed again: the syncer copies the Ingress again", 30*time.Second, func(ctx context.Context) (bool, string) {
			_, err := ings.Create(ctx, again.DeepCopy(), metav1.CreateOptions{})
			return err == nil, fmt.Sprint(err)
		})
		e.waitExposed(ctx, ns, "allowed again: open again", web)
	})

	t.Run("a deleted Ingress closes", func(t *testing.T) {
		if err := ings.Delete(ctx, front, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitExposed(ctx, ns, "no Ingress: nothing open")
	})
}

// wantExposedPolicy checks that exposure policy p selects pod (or not, per selects) and has
// one rule, on port only; it reports whether the rule is there to look at further.
func wantExposedPolicy(t *testing.T, p *networkingv1.NetworkPolicy, pod labels.Set, selects bool, port string) bool {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if sel.Matches(pod) != selects {
		t.Errorf("policy %s selects %v: %v, want %v", p.Name, pod, !selects, selects)
	}
	if len(p.Spec.Ingress) != 1 || len(p.Spec.Ingress[0].Ports) != 1 || p.Spec.Ingress[0].Ports[0].Port.String() != port {
		t.Errorf("policy %s ingress %+v, want one rule, port %s only", p.Name, p.Spec.Ingress, port)
		return false
	}
	return true
}

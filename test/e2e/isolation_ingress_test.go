package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/operator"
	"github.com/kplex-dev/kplex/internal/podsecurity"
)

// The stand-in for the host's ingress controller: a busybox pod in a host namespace that
// `kplex install` names to the operator, fetching from a tenant's backend pod as a real
// controller proxies to it.
const (
	ingressNS         = "ingress-system"
	ingressLabel      = "app"
	ingressLabelValue = "ingress-controller"
)

func ingressControllerInstall() install.Options {
	return install.Options{IngressControllerNamespaces: []string{ingressNS}, IngressControllerSelector: ingressLabel + "=" + ingressLabelValue}
}

// testIngressEntry: tenant a (allowed Ingresses) runs a Deployment serving on 8080 and
// 9090, a Service to 8080 and an Ingress to the Service. The controller pod reads the page
// on 8080; it cannot connect to 9090, to a's other pod or to a's control plane; a pod of the
// controller's namespace without the controller's label and b's client cannot connect to
// the backend at all. With the Ingress's backend changed away, the controller is refused
// too (the operator's rule is what let it in), and admitted again once it is back.
func testIngressEntry(ctx context.Context, t *testing.T, env *devhostEnv, c client.Client, csA kubernetes.Interface, ns string, a, b *tenant) {
	host := env.client
	if _, err := host.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ingressNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, labels := range map[string]map[string]string{"controller": {ingressLabel: ingressLabelValue}, "bystander": nil} {
		p := tenantPod()
		p.Name, p.Labels = name, labels
		if _, err := host.CoreV1().Pods(ingressNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	web := twoPortWebPod("front", "hello from a through its ingress")
	podsecurity.Restrict(&web.Spec)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "front"}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](1),
		Selector: &metav1.LabelSelector{MatchLabels: web.Labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: web.Labels}, Spec: web.Spec},
	}}
	if _, err := csA.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a's Deployment: %v", err)
	}
	if _, err := csA.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "front"}, Spec: corev1.ServiceSpec{
		Selector: web.Labels, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}}},
		metav1.CreateOptions{}); err != nil {
		t.Fatalf("a's Service: %v", err)
	}
	backend := func(svc string) *networkingv1.IngressBackend {
		return &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Name: "http"}}}
	}
	ing, err := csA.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "front"},
		Spec: networkingv1.IngressSpec{DefaultBackend: backend("front")}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a's Ingress (a is allowed Ingresses): %v", err)
	}

	var frontIP string
	waitFor(t, "a's Deployment's pod Running", 3*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := csA.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=front"})
		if err != nil || len(pods.Items) != 1 || pods.Items[0].Status.Phase != corev1.PodRunning || pods.Items[0].Status.PodIP == "" {
			return false, fmt.Errorf("pods %v: %v", pods, err)
		}
		frontIP = pods.Items[0].Status.PodIP
		return true, nil
	})
	env.waitPodRunning(t, ingressNS, "controller")
	env.waitPodRunning(t, ingressNS, "bystander")
	nsA, nsB := v1alpha1.HostNamespace("a"), v1alpha1.HostNamespace("b")
	hostSvc := hostPod(t, "a", ns, "front")[1]
	waitPolicy := func(what string, present bool) {
		waitFor(t, what, time.Minute, func(ctx context.Context) (bool, error) {
			_, err := host.NetworkingV1().NetworkPolicies(nsA).Get(ctx, operator.ExposedPolicyName(hostSvc), metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return !present, nil
			}
			return present && err == nil, err
		})
	}
	waitPolicy("the operator opens a's Service "+hostSvc+" to the ingress controller", true)

	page, other := hostPort(frontIP, 8080), hostPort(frontIP, 9090)
	closed := []struct{ what, addr string }{
		{"a's backend pod on a port the Ingress does not lead to", other},
		{"a's pod no Ingress leads to", hostPort(a.webIP, 8080)},
		{"a's control plane pod", hostPort(a.cpIP, 6443)},
	}
	// Controls: each closed target answers a's own client.
	for _, tg := range closed {
		waitFor(t, "a's client connects to "+tg.what+" "+tg.addr, time.Minute, func(ctx context.Context) (bool, error) {
			return connects(ctx, env, nsA, a.client, tg.addr)
		})
	}
	read := func(ctx context.Context) (bool, error) {
		out, err := env.execInPod(ctx, ingressNS, "controller", "timeout", "3", "wget", "-q", "-O-", "http://"+page+"/")
		return strings.Contains(out, "hello from a through its ingress"), err
	}
	waitFor(t, "the ingress controller reads a's page at "+page, time.Minute, read)
	for _, tg := range closed {
		if ok, err := connects(ctx, env, ingressNS, "controller", tg.addr); ok {
			t.Errorf("the ingress controller connected to %s at %s", tg.what, tg.addr)
		} else {
			t.Logf("ingress controller -> %s %s: refused (%v)", tg.what, tg.addr, err)
		}
	}
	for _, from := range []struct{ what, ns, pod string }{
		{"a pod of the controller's namespace without its label", ingressNS, "bystander"},
		{"b's client", nsB, b.client},
	} {
		if ok, err := connects(ctx, env, from.ns, from.pod, page); ok {
			t.Errorf("%s connected to a's backend at %s", from.what, page)
		} else {
			t.Logf("%s -> a's backend %s: refused (%v)", from.what, page, err)
		}
	}
	vc := &v1alpha1.VirtualCluster{}
	waitFor(t, "a's IsolationReady names the Service the controller reaches", 30*time.Second, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, types.NamespacedName{Name: "a"}, vc); err != nil {
			return false, err
		}
		msg := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionIsolation).Message
		return strings.Contains(msg, "ingress controllers") && strings.Contains(msg, hostSvc), fmt.Errorf("message %q", msg)
	})

	// The wall matters: without the operator's rule (the Ingress leads elsewhere) the
	// controller is refused; with it back, admitted again.
	setBackend := func(svc string) {
		t.Helper()
		ing.Spec.DefaultBackend = backend(svc)
		var err error
		if ing, err = csA.NetworkingV1().Ingresses(ns).Update(ctx, ing, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("a's Ingress to %s: %v", svc, err)
		}
	}
	setBackend("elsewhere")
	waitPolicy("the rule goes with the Ingress's backend", false)
	waitFor(t, "the ingress controller refused at "+page+" without the rule", time.Minute, func(ctx context.Context) (bool, error) {
		ok, err := connects(ctx, env, ingressNS, "controller", page)
		return !ok, err
	})
	setBackend("front")
	waitPolicy("the rule back", true)
	waitFor(t, "the ingress controller reads a's page again", time.Minute, read)
}

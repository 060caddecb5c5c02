package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/operator"
	"github.com/kplex-dev/kplex/internal/syncer/networkpolicies"
	"github.com/kplex-dev/kplex/internal/translate"
)

// TestOperatorIsolation: the operator puts the quota, the default requests and the network
// policies of the spec in a tenant's namespace before anything runs there; they take effect
// (a pod without requests gets the defaults, a pod beyond the quota is refused); spec changes
// roll out; what a host admin's mistake removes comes back; and the tenant's own host
// identity (its syncer's) can touch none of them.
func TestOperatorIsolation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newOperatorEnv(ctx, t)
	e.create(ctx, "iso", v1alpha1.VirtualClusterSpec{})
	vc := e.waitCondition(ctx, "iso", v1alpha1.ConditionIsolation, metav1.ConditionTrue, v1alpha1.ReasonIsolated, v1alpha1.PhaseProvisioning)
	// This host runs without the endpoint reconciler: no EndpointSlice default/kubernetes.
	if msg := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionIsolation).Message; !strings.Contains(msg, "endpoints are unknown") {
		t.Errorf("IsolationReady message %q does not say that the host API's endpoints are unknown", msg)
	}
	const ns = "kplex-iso"
	for _, name := range []string{operator.PolicyDefaultDeny, operator.PolicyTenantIngress, operator.PolicyTenantEgress, operator.PolicyTenantPods, operator.PolicyControlPlane} {
		p := &networkingv1.NetworkPolicy{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, p); err != nil {
			t.Fatalf("network policy %s: %v", name, err)
		}
	}
	rq := e.waitQuota(ctx, ns, "the quota computed", func(rq *corev1.ResourceQuota) bool { return rq.Status.Hard != nil })
	if got := rq.Spec.Hard[corev1.ResourceRequestsCPU]; got.Cmp(resource.MustParse("4100m")) != 0 {
		t.Errorf("requests.cpu %s, want 4 for the tenant and 100m for the control plane", got.String())
	}

	t.Run("a pod without requests gets the defaults; beyond the quota it is refused", func(t *testing.T) {
		p := testPod(ns, "no-requests")
		got, err := e.host.Client().CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("a pod without requests: %v", err)
		}
		if r := got.Spec.Containers[0].Resources.Requests; r.Cpu().String() != "100m" || r.Memory().String() != "128Mi" {
			t.Errorf("requests %v, want the LimitRange's 100m and 128Mi", r)
		}
		big := testPod(ns, "big")
		big.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("5")}
		_, err = e.host.Client().CoreV1().Pods(ns).Create(ctx, big, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota") {
			t.Errorf("a pod requesting 5 CPUs: %v, want refused by the quota", err)
		}
	})

	t.Run("spec changes roll out", func(t *testing.T) {
		vc := e.get(ctx, "iso")
		vc.Spec.Isolation.Quota.CPU = ptr.To(resource.MustParse("2"))
		vc.Spec.Isolation.AllowNodePorts = true
		vc.Spec.Expose.Type = v1alpha1.ExposeNodePort
		if err := e.c.Update(ctx, vc); err != nil {
			t.Fatal(err)
		}
		e.waitQuota(ctx, ns, "quota follows the spec", func(rq *corev1.ResourceQuota) bool {
			cpu, ports := rq.Spec.Hard[corev1.ResourceRequestsCPU], rq.Spec.Hard[corev1.ResourceServicesNodePorts]
			return cpu.Cmp(resource.MustParse("2100m")) == 0 && ports.Value() == 3
		})
		e.waitFor(ctx, "the control plane's policy admits its exposed API from anywhere, kplexd allows node ports", 30*time.Second, func(ctx context.Context) (bool, string) {
			p := &networkingv1.NetworkPolicy{}
			if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.PolicyControlPlane}, p); err != nil {
				return false, err.Error()
			}
			sts := &appsv1.StatefulSet{}
			if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.ControlPlaneName}, sts); err != nil {
				return false, err.Error()
			}
			open := slices.ContainsFunc(p.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool { return len(r.From) == 0 })
			args := sts.Spec.Template.Spec.Containers[0].Args
			return open && slices.Contains(args, "--allow-node-ports"), fmt.Sprintf("ingress %+v, args %v", p.Spec.Ingress, args)
		})
	})

	t.Run("objects removed or changed by mistake come back", func(t *testing.T) {
		if err := e.c.Delete(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.PolicyTenantPods}}); err != nil {
			t.Fatal(err)
		}
		// The quota controller updates its status all the time: a patch, not an update.
		rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.QuotaName}}
		if err := e.c.Patch(ctx, rq, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"hard":{"pods":"1000"}}}`))); err != nil {
			t.Fatal(err)
		}
		e.waitFor(ctx, "policy and quota restored", 30*time.Second, func(ctx context.Context) (bool, string) {
			err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.PolicyTenantPods}, &networkingv1.NetworkPolicy{})
			if err != nil {
				return false, err.Error()
			}
			if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.QuotaName}, rq); err != nil {
				return false, err.Error()
			}
			pods := rq.Spec.Hard[corev1.ResourcePods]
			return pods.Value() == 51, "pods " + pods.String()
		})
	})

	t.Run("an older operator's kplex-tenant-pods, which admitted the tenant's pods, is narrowed", func(t *testing.T) {
		// Before the split, kplex-tenant-pods also admitted the tenant's pods, isolated or not.
		same := &networkingv1.NetworkPolicy{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.PolicyTenantIngress}, same); err != nil {
			t.Fatal(err)
		}
		old := &networkingv1.NetworkPolicy{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.PolicyTenantPods}, old); err != nil {
			t.Fatal(err)
		}
		old.Spec.Ingress[0].From = append(old.Spec.Ingress[0].From, same.Spec.Ingress[0].From...)
		if err := e.c.Update(ctx, old); err != nil {
			t.Fatal(err)
		}
		e.waitFor(ctx, "kplex-tenant-pods admits only the control plane again", 30*time.Second, func(ctx context.Context) (bool, string) {
			p := &networkingv1.NetworkPolicy{}
			if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.PolicyTenantPods}, p); err != nil {
				return false, err.Error()
			}
			return len(p.Spec.Ingress) == 1 && len(p.Spec.Ingress[0].From) == 1, fmt.Sprintf("ingress %+v", p.Spec.Ingress)
		})
	})

	t.Run("the tenant's host identity cannot touch them", func(t *testing.T) {
		syncer := e.serviceAccountClient(ctx, ns, operator.ControlPlaneName)
		pols := syncer.NetworkingV1().NetworkPolicies(ns)
		p, err := pols.Get(ctx, operator.PolicyTenantPods, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the syncer reads network policies in its namespace: %v", err)
		}
		p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{}) // from anywhere
		_, err = pols.Update(ctx, p, metav1.UpdateOptions{})
		wantForbidden(t, "update the operator's policy", err)
		p.Labels[translate.LabelManagedBy] = "iso" // pass for one of its copies
		_, err = pols.Update(ctx, p, metav1.UpdateOptions{})
		wantForbidden(t, "relabel the operator's policy as the syncer's", err)
		wantForbidden(t, "delete the operator's policy", pols.Delete(ctx, operator.PolicyDefaultDeny, metav1.DeleteOptions{}))
		wantForbidden(t, "delete the operator's same-tenant ingress", pols.Delete(ctx, operator.PolicyTenantIngress, metav1.DeleteOptions{}))
		allowAll := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "allow-all"},
			Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}}
		_, err = pols.Create(ctx, allowAll, metav1.CreateOptions{})
		wantForbidden(t, "create an unlabelled policy", err)
		svcs := syncer.CoreV1().Services(ns)
		wantForbidden(t, "delete the operator's API Service", svcs.Delete(ctx, operator.ServiceName, metav1.DeleteOptions{}))
		rq, err := syncer.CoreV1().ResourceQuotas(ns).Get(ctx, operator.QuotaName, metav1.GetOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("the syncer reads the quota: %v %v, want forbidden (no rights on quotas)", rq, err)
		}
		wantForbidden(t, "delete the limit range", syncer.CoreV1().LimitRanges(ns).Delete(ctx, operator.LimitRangeName, metav1.DeleteOptions{}))

		// Its own copies, labelled as the syncer labels them, it still writes.
		tenant := map[string]string{translate.LabelManagedBy: "iso", translate.LabelTenant: "iso"}
		own := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web-default-0123456789", Labels: tenant},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: tenant}}}
		if _, err := pols.Create(ctx, own, metav1.CreateOptions{}); err != nil {
			t.Fatalf("the syncer creates its own copy: %v", err)
		}
		if err := pols.Delete(ctx, own.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("the syncer deletes its own copy: %v", err)
		}
		for _, name := range []string{operator.PolicyDefaultDeny, operator.PolicyTenantPods, operator.PolicyTenantIngress} {
			p := &networkingv1.NetworkPolicy{}
			if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, p); err != nil || len(p.Spec.Ingress) > 1 {
				t.Errorf("policy %s after the attempts: %v %+v", name, err, p.Spec.Ingress)
			}
		}
	})

	t.Run("the tenant's syncer writes only policies confined to the tenant", func(t *testing.T) {
		testSyncerPolicyContent(ctx, t, e.serviceAccountClient(ctx, ns, operator.ControlPlaneName), "iso", ns)
	})
}

func wantForbidden(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
		t.Errorf("%s: %v, want forbidden", what, err)
	}
}

// waitQuota waits until the tenant's quota satisfies cond.
func (e *operatorEnv) waitQuota(ctx context.Context, ns, what string, cond func(*corev1.ResourceQuota) bool) *corev1.ResourceQuota {
	e.t.Helper()
	rq := &corev1.ResourceQuota{}
	e.waitFor(ctx, what, 30*time.Second, func(ctx context.Context) (bool, string) {
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.QuotaName}, rq); err != nil {
			return false, err.Error()
		}
		return cond(rq), fmt.Sprintf("spec %v status %v", rq.Spec.Hard, rq.Status)
	})
	return rq
}

// serviceAccountClient acts as a ServiceAccount of the host, with a token of its own.
func (e *operatorEnv) serviceAccountClient(ctx context.Context, ns, name string) kubernetes.Interface {
	e.t.Helper()
	tok, err := e.host.Client().CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("token of service account %s/%s: %v", ns, name, err)
	}
	cfg := rest.AnonymousClientConfig(e.host.RESTConfig())
	cfg.BearerToken = tok.Status.Token
	return kubernetes.NewForConfigOrDie(cfg)
}

// TestOperatorIsolationExposedServices: once a tenant may expose Services, the operator
// labels its namespace (every tenant's egress reaches the tenant pods of such namespaces)
// and opens, for each NodePort Service its syncer writes, the Service's target ports on
// the Service's tenant pods; the opening follows the Service and the spec. A Service the
// syncer aims at its control plane opens nothing.
func TestOperatorIsolationExposedServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newOperatorEnv(ctx, t)
	const name, ns = "exp", "kplex-exp"
	spec := v1alpha1.VirtualClusterSpec{}
	spec.Isolation.AllowNodePorts = true
	spec.Isolation.Quota.ServicesNodePorts = ptr.To[int32](3)
	e.create(ctx, name, spec)
	e.waitCondition(ctx, name, v1alpha1.ConditionIsolation, metav1.ConditionTrue, v1alpha1.ReasonIsolated, v1alpha1.PhaseProvisioning)
	e.waitNamespaceExposes(ctx, ns, true)

	// The Services as the tenant's syncer writes them, with its own host identity.
	tr, err := translate.New(translate.Tenant{Name: name, HostNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	webSel, err := tr.HostSelectorMap("default", map[string]string{"app": "web"})
	if err != nil {
		t.Fatal(err)
	}
	cpLabels := operator.StatefulSet(e.get(ctx, name), "10.96.0.1", "10.96.0.2", operator.ControlPlaneDefaults{Image: "img"}).Spec.Template.Labels
	syncer := e.serviceAccountClient(ctx, ns, operator.ControlPlaneName).CoreV1().Services(ns)
	nodePort := func(svcName string, sel map[string]string, target intstr.IntOrString) {
		t.Helper()
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svcName, Labels: tr.HostLabels("default", nil)},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: sel,
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: target}}}}
		if _, err := syncer.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatalf("the syncer creates NodePort Service %s: %v", svcName, err)
		}
	}
	web, cp, gone := tr.HostName("default", "web"), tr.HostName("default", "cp"), tr.HostName("default", "gone")
	nodePort(web, webSel, intstr.FromInt32(8080))
	nodePort(cp, cpLabels, intstr.FromInt32(6443))
	nodePort(gone, webSel, intstr.FromString("http"))
	pols := e.waitExposed(ctx, ns, "one policy per NodePort Service", web, cp, gone)

	webPod := labels.Set(tr.HostLabels("default", map[string]string{"app": "web"}))
	for _, tc := range []struct {
		svc    string
		pod    labels.Set
		admits bool
		port   string
	}{
		{web, webPod, true, "8080"},
		{gone, webPod, true, "http"},
		{cp, labels.Set(cpLabels), false, "6443"}, // the control plane lacks the tenant-pod labels
	} {
		wantExposedPolicy(t, pols[operator.ExposedPolicyName(tc.svc)], tc.pod, tc.admits, tc.port)
	}
	e.waitFor(ctx, "IsolationReady names the exposed Services", 30*time.Second, func(ctx context.Context) (bool, string) {
		msg := meta.FindStatusCondition(e.get(ctx, name).Status.Conditions, v1alpha1.ConditionIsolation).Message
		return strings.Contains(msg, web) && strings.Contains(msg, cp), msg
	})

	t.Run("the opening follows the Service", func(t *testing.T) {
		s, err := syncer.Get(ctx, web, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.Ports[0].NodePort = 0
		if _, err := syncer.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("the syncer makes %s ClusterIP: %v", web, err)
		}
		if err := syncer.Delete(ctx, gone, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitExposed(ctx, ns, "the ClusterIP and the deleted Service closed", cp)
	})

	t.Run("the tenant's syncer cannot remove the operator's opening", func(t *testing.T) {
		pols := e.serviceAccountClient(ctx, ns, operator.ControlPlaneName).NetworkingV1().NetworkPolicies(ns)
		wantForbidden(t, "delete the exposure policy", pols.Delete(ctx, operator.ExposedPolicyName(cp), metav1.DeleteOptions{}))
	})

	t.Run("the opening follows the spec", func(t *testing.T) {
		vc := e.get(ctx, name)
		patch := client.MergeFrom(vc.DeepCopy())
		vc.Spec.Isolation.AllowNodePorts = false
		if err := e.c.Patch(ctx, vc, patch); err != nil {
			t.Fatal(err)
		}
		e.waitExposed(ctx, ns, "node ports no longer allowed: nothing open")
		e.waitNamespaceExposes(ctx, ns, false)
	})

	t.Run("an operator told of no ingress controller opens nothing for Ingresses, and says so", func(t *testing.T) {
		ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: tr.HostName("default", "front"), Labels: tr.HostLabels("default", nil)},
			Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: cp, Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
		ings := e.serviceAccountClient(ctx, ns, operator.ControlPlaneName).NetworkingV1().Ingresses(ns)
		// Not allowed Ingresses: the tenant's syncer cannot write one for the host's
		// controllers either (a control plane the tenant took over would try).
		_, err := ings.Create(ctx, ing, metav1.CreateOptions{})
		wantForbidden(t, "the syncer creates an Ingress its spec does not allow", err)
		if err != nil && !strings.Contains(err.Error(), "spec.isolation.allowIngresses") {
			t.Errorf("refusal %q does not name spec.isolation.allowIngresses", err)
		}
		vc := e.get(ctx, name)
		patch := client.MergeFrom(vc.DeepCopy())
		vc.Spec.Isolation.AllowIngresses = true
		if err := e.c.Patch(ctx, vc, patch); err != nil {
			t.Fatal(err)
		}
		e.waitFor(ctx, "the syncer creates the Ingress once allowed", 30*time.Second, func(ctx context.Context) (bool, string) {
			_, err := ings.Create(ctx, ing, metav1.CreateOptions{})
			return err == nil, fmt.Sprint(err)
		})
		e.waitFor(ctx, "IsolationReady says the Ingress reaches nothing, and why", 30*time.Second, func(ctx context.Context) (bool, string) {
			msg := meta.FindStatusCondition(e.get(ctx, name).Status.Conditions, v1alpha1.ConditionIsolation).Message
			return strings.Contains(msg, "Ingresses "+ing.Name+" reach no pod: the operator does not know where the host's ingress controllers run"), msg
		})
		e.waitExposed(ctx, ns, "nothing open")
	})
}

// waitExposed waits until the exposure policies of namespace ns are those of the Services
// named, and returns them by name.
func (e *operatorEnv) waitExposed(ctx context.Context, ns, what string, services ...string) map[string]*networkingv1.NetworkPolicy {
	e.t.Helper()
	var want []string
	for _, s := range services {
		want = append(want, operator.ExposedPolicyName(s))
	}
	slices.Sort(want)
	out := map[string]*networkingv1.NetworkPolicy{}
	e.waitFor(ctx, what, 30*time.Second, func(ctx context.Context) (bool, string) {
		var l networkingv1.NetworkPolicyList
		if err := e.c.List(ctx, &l, client.InNamespace(ns), client.HasLabels{operator.LabelExposedService}); err != nil {
			return false, err.Error()
		}
		clear(out)
		var got []string
		for i := range l.Items {
			got = append(got, l.Items[i].Name)
			out[l.Items[i].Name] = &l.Items[i]
		}
		slices.Sort(got)
		return slices.Equal(got, want), fmt.Sprintf("policies %v, want %v", got, want)
	})
	return out
}

func (e *operatorEnv) waitNamespaceExposes(ctx context.Context, ns string, want bool) {
	e.t.Helper()
	e.waitFor(ctx, fmt.Sprintf("namespace %s labelled %s: %v", ns, operator.LabelExposesServices, want), 30*time.Second, func(ctx context.Context) (bool, string) {
		n := &corev1.Namespace{}
		if err := e.c.Get(ctx, types.NamespacedName{Name: ns}, n); err != nil {
			return false, err.Error()
		}
		return (n.Labels[operator.LabelExposesServices] == "true") == want, fmt.Sprintf("labels %v", n.Labels)
	})
}

// testSyncerPolicyContent: with the syncer's own token, every policy the real translation
// makes is admitted, and a labelled policy that reaches beyond the tenant, of each kind a
// hostile control plane could write, is refused with the rule it breaks; so is a Service
// with externalIPs.
func testSyncerPolicyContent(ctx context.Context, t *testing.T, syncer kubernetes.Interface, name, ns string) {
	tr, err := translate.New(translate.Tenant{Name: name, HostNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	pols := syncer.NetworkingV1().NetworkPolicies(ns)
	namespaces := []corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{"team": "a"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"team": "b"}}},
	}
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	peers := func(p ...networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyPeer { return p }
	block := func(cidr string, except ...string) networkingv1.NetworkPolicyPeer {
		return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}
	}
	port := []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(8080))}}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	for i, spec := range []networkingv1.NetworkPolicySpec{
		{PolicyTypes: both}, // default deny
		{PodSelector: *web, Ingress: []networkingv1.NetworkPolicyIngressRule{{}}, Egress: []networkingv1.NetworkPolicyEgressRule{{}}}, // anywhere
		{Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: port, From: peers(networkingv1.NetworkPolicyPeer{PodSelector: web})}}},
		{Ingress: []networkingv1.NetworkPolicyIngressRule{{From: peers(networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"db"}}}}})}}},
		{Ingress: []networkingv1.NetworkPolicyIngressRule{{From: peers(
			networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{}},
			networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}}, PodSelector: web},
			networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "none"}}},
		)}}},
		{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, Egress: []networkingv1.NetworkPolicyEgressRule{
			{To: peers(block("0.0.0.0/0", "1.2.3.0/24"), block("::/0"), block("8.8.8.0/24"), block("128.0.0.0/1"), block("2001:db8::/32"))},
			{To: peers(block("10.244.0.0/16")), Ports: port}, // wholly denied: allows nothing
			{To: peers(block("0.0.0.0/0", "10.0.0.0/8"), block("3.0.0.0/8", "3.1.0.0/16"))},
		}},
	} {
		v := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("legit-%d", i)}, Spec: spec}
		h, err := networkpolicies.HostPolicy(tr, v, tr.HostMeta(v), namespaces, networkpolicies.DeniedCIDRs())
		if err != nil {
			t.Fatal(err)
		}
		h.Namespace = ns
		if _, err := pols.Create(ctx, h, metav1.CreateOptions{}); err != nil {
			t.Errorf("the syncer creates the translation of %+v: %v", spec, err)
		}
	}

	// A legitimate copy, changed by a hostile control plane in one place each time.
	tenant := map[string]string{translate.LabelManagedBy: name, translate.LabelTenant: name}
	base := func() *networkingv1.NetworkPolicy {
		v := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hostile"},
			Spec: networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: peers(networkingv1.NetworkPolicyPeer{PodSelector: web})}},
				Egress:  []networkingv1.NetworkPolicyEgressRule{{To: peers(block("8.8.8.0/24"))}},
			}}
		h, err := networkpolicies.HostPolicy(tr, v, tr.HostMeta(v), namespaces, networkpolicies.DeniedCIDRs())
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	const (
		pods     = "spec.podSelector.matchLabels needs"
		named    = "must name the peers of every rule"
		nsSel    = "may not have a namespaceSelector peer"
		podPeer  = "every peer podSelector.matchLabels needs"
		networks = "may not allow the cluster's or host's networks"
	)
	ingressPeer := func(p networkingv1.NetworkPolicyPeer) func(*networkingv1.NetworkPolicy) {
		return func(h *networkingv1.NetworkPolicy) { h.Spec.Ingress[0].From = append(h.Spec.Ingress[0].From, p) }
	}
	egressPeer := func(p networkingv1.NetworkPolicyPeer) func(*networkingv1.NetworkPolicy) {
		return func(h *networkingv1.NetworkPolicy) { h.Spec.Egress[0].To = append(h.Spec.Egress[0].To, p) }
	}
	for _, tc := range []struct {
		what   string
		change func(*networkingv1.NetworkPolicy)
		want   string
	}{
		{"select every pod of the namespace", func(h *networkingv1.NetworkPolicy) { h.Spec.PodSelector = metav1.LabelSelector{} }, pods},
		{"select the control plane", func(h *networkingv1.NetworkPolicy) {
			h.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{translate.LabelTenant: name}}
		}, pods},
		{"select pods labelled for another tenant", func(h *networkingv1.NetworkPolicy) {
			h.Spec.PodSelector.MatchLabels[translate.LabelManagedBy] = "other"
		}, pods},
		{"admit from anywhere", func(h *networkingv1.NetworkPolicy) {
			h.Spec.Ingress = append(h.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{Ports: port})
		}, named},
		{"send anywhere", func(h *networkingv1.NetworkPolicy) { h.Spec.Egress[0].To = nil }, named},
		{"admit every namespace", ingressPeer(networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{}}), nsSel},
		{"admit another tenant's pods by namespace", ingressPeer(networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kplex-other"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: tenant},
		}), nsSel},
		{"admit every pod of the namespace", ingressPeer(networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{}}), podPeer},
		{"send to pods of half the tenant's labels", egressPeer(networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{translate.LabelManagedBy: name, translate.LabelTenant: "other"}}}), podPeer},
		{"admit the pod network", ingressPeer(block("10.244.0.0/16")), networks},
		{"admit a private range whole", ingressPeer(block("10.0.0.0/8")), networks},
		{"send to the IPv4 internet without excepts", egressPeer(block("0.0.0.0/0")), networks},
		{"send to the IPv4 internet but the pod network", egressPeer(block("0.0.0.0/0", "192.168.0.0/16", "172.16.0.0/12", "100.64.0.0/10",
			"127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8", "192.0.0.0/24", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4")), networks},
		{"send to cloud metadata", egressPeer(block("169.254.169.254/32")), networks},
		{"send to the IPv6 internet without excepts", egressPeer(block("::/0")), networks},
		{"send to unique-local IPv6", egressPeer(block("fd00::/8")), networks},
		{"send to half of IPv4 with a narrow except", egressPeer(block("0.0.0.0/1", "10.0.0.0/16", "0.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8")), networks},
	} {
		h := base()
		h.Namespace = ns
		tc.change(h)
		_, err := pols.Create(ctx, h, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("the syncer may %s: %v, want refused with %q", tc.what, err, tc.want)
		}
		if err == nil { // so that the next case is judged, not refused as a duplicate
			_ = pols.Delete(ctx, h.Name, metav1.DeleteOptions{})
		}
	}

	// An admitted copy cannot be changed into a hostile one either.
	h := base()
	h.Namespace = ns
	h, err = pols.Create(ctx, h, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the syncer creates a legitimate copy: %v", err)
	}
	h.Spec.Ingress[0].From = append(h.Spec.Ingress[0].From, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{}})
	if _, err := pols.Update(ctx, h, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), nsSel) {
		t.Errorf("the syncer opens its copy to every namespace: %v, want refused with %q", err, nsSel)
	}
	if err := pols.Delete(ctx, h.Name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("the syncer deletes its copy: %v", err)
	}

	svcs := syncer.CoreV1().Services(ns)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: tr.HostName("default", "ext"), Labels: tr.HostLabels("default", nil)},
		Spec: corev1.ServiceSpec{Selector: tr.HostLabels("default", map[string]string{"app": "web"}),
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
	withIPs := svc.DeepCopy()
	withIPs.Spec.ExternalIPs = []string{"10.96.0.1"}
	const extIPs = "may not set spec.externalIPs"
	if _, err := svcs.Create(ctx, withIPs, metav1.CreateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), extIPs) {
		t.Errorf("the syncer creates a Service with externalIPs: %v, want refused with %q", err, extIPs)
	}
	got, err := svcs.Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the syncer creates a Service copy: %v", err)
	}
	got.Spec.ExternalIPs = []string{"203.0.113.7"}
	if _, err := svcs.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), extIPs) {
		t.Errorf("the syncer adds externalIPs to its Service copy: %v, want refused with %q", err, extIPs)
	}
}

package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/translate"
)

func TestSyncerNetworkPolicies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := newSyncEnv(ctx, t)
	for _, ns := range []string{"shop", "blog"} {
		mustNamespace(ctx, t, e.vAdmin, ns)
		waitServiceAccount(ctx, t, e.vAdmin, ns)
	}
	// Host pods: two of this tenant (synced), one of another tenant, one of the host.
	for _, p := range []*corev1.Pod{testPod("shop", "web"), testPod("blog", "web")} {
		if _, err := e.vAdmin.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitHostPod(ctx, t, p.Namespace, p.Name, nil)
	}
	rival, err := translate.New(translate.Tenant{Name: "rival", HostNamespace: hostNS})
	if err != nil {
		t.Fatal(err)
	}
	foreign := testPod("shop", "web")
	for name, l := range map[string]map[string]string{
		"rival-web": rival.HostLabels("shop", foreign.Labels),
		"host-web":  {"app": "web", translate.LabelVirtualNamespace: "shop"},
	} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}, Spec: foreign.Spec}
		if _, err := e.hostAdmin.CoreV1().Pods(hostNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// selects lists the host pods a translated selector selects, by the host API server.
	selects := func(t *testing.T, sel *metav1.LabelSelector) []string {
		t.Helper()
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			t.Fatal(err)
		}
		list, err := e.hostAdmin.CoreV1().Pods(hostNS).List(ctx, metav1.ListOptions{LabelSelector: s.String()})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range list.Items {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	shopWeb, blogWeb := e.tr.HostName("shop", "web"), e.tr.HostName("blog", "web")
	tenantPods := []string{shopWeb, blogWeb}
	slices.Sort(tenantPods)

	policies := e.vAdmin.NetworkingV1().NetworkPolicies("shop")
	hostName := e.tr.HostName("shop", "web-in")
	waitHost := func(t *testing.T, cond func(*networkingv1.NetworkPolicy) bool) *networkingv1.NetworkPolicy {
		t.Helper()
		var got *networkingv1.NetworkPolicy
		eventually(ctx, t, "host network policy", func(ctx context.Context) (bool, error) {
			p, err := e.hostAdmin.NetworkingV1().NetworkPolicies(hostNS).Get(ctx, hostName, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			got = p
			return cond == nil || cond(p), nil
		})
		return got
	}

	t.Run("translated policy selects only the tenant's pods", func(t *testing.T) {
		tcp := corev1.ProtocolTCP
		_, err := policies.Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web-in"}, Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{
				{NamespaceSelector: &metav1.LabelSelector{}}, // "every namespace"
				{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}},
			}}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptr.To(intstr.FromInt32(443))}}}}, // to anywhere
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := waitHost(t, nil)
		if got := selects(t, &h.Spec.PodSelector); !slices.Equal(got, []string{shopWeb}) {
			t.Errorf("policy applies to host pods %v, want only %s", got, shopWeb)
		}
		from := h.Spec.Ingress[0].From
		if len(from) != 2 || from[0].NamespaceSelector != nil || from[1].IPBlock == nil {
			t.Fatalf("host ingress peers %+v", from)
		}
		if got := selects(t, from[0].PodSelector); !slices.Equal(got, tenantPods) {
			t.Errorf("namespaceSelector {} selects host pods %v, want only the tenant's %v", got, tenantPods)
		}
		if !slices.Contains(from[1].IPBlock.Except, "10.0.0.0/8") || !slices.Contains(from[1].IPBlock.Except, "169.254.0.0/16") {
			t.Errorf("0.0.0.0/0 kept the host's ranges: %+v", from[1].IPBlock)
		}
		to := h.Spec.Egress[0].To
		if len(to) == 0 {
			t.Fatal("egress to anywhere copied as is: it would open the host's networks")
		}
		if got := selects(t, to[0].PodSelector); !slices.Equal(got, tenantPods) {
			t.Errorf("egress anywhere selects host pods %v, want the tenant's %v", got, tenantPods)
		}
	})

	t.Run("a new namespace joins namespaceSelector peers", func(t *testing.T) {
		mustNamespace(ctx, t, e.vAdmin, "news")
		if _, err := e.vAdmin.CoreV1().Pods("news").Create(ctx, testPod("news", "web"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitHostPod(ctx, t, "news", "web", nil)
		h := waitHost(t, func(p *networkingv1.NetworkPolicy) bool {
			return slices.ContainsFunc(p.Spec.Ingress[0].From[0].PodSelector.MatchExpressions, func(r metav1.LabelSelectorRequirement) bool {
				return r.Key == translate.LabelVirtualNamespace && slices.Contains(r.Values, "news")
			})
		})
		if got := selects(t, h.Spec.Ingress[0].From[0].PodSelector); !slices.Contains(got, e.tr.HostName("news", "web")) || len(got) != 3 {
			t.Errorf("peer selects %v, want the tenant's three pods", got)
		}
	})

	t.Run("a host-side edit is reverted, a deleted copy recreated", func(t *testing.T) {
		h := waitHost(t, nil)
		h.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}} // from anywhere
		if _, err := e.hostAdmin.NetworkingV1().NetworkPolicies(hostNS).Update(ctx, h, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitHost(t, func(p *networkingv1.NetworkPolicy) bool { return len(p.Spec.Ingress[0].From) == 2 })
		old := waitHost(t, nil)
		if err := e.hostAdmin.NetworkingV1().NetworkPolicies(hostNS).Delete(ctx, hostName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitHost(t, func(p *networkingv1.NetworkPolicy) bool { return p.UID != old.UID })
		if _, err := policies.Get(ctx, "web-in", metav1.GetOptions{}); err != nil {
			t.Errorf("virtual policy after its host copy vanished: %v", err)
		}
	})

	t.Run("deleting the virtual policy deletes the host copy", func(t *testing.T) {
		if err := policies.Delete(ctx, "web-in", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(ctx, t, "host policy gone", func(ctx context.Context) (bool, error) {
			_, err := e.hostAdmin.NetworkingV1().NetworkPolicies(hostNS).Get(ctx, hostName, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})
}

package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kplex-dev/kplex/internal/syncer/podisolation"
)

// TestSyncerPodIsolation: the host pods carry the isolation labels exactly while a tenant
// NetworkPolicy of their virtual namespace isolates them, following policy creates,
// updates and deletes and the pods' own label changes; a tenant label of the same name
// sets nothing, and a host-side edit is put back.
func TestSyncerPodIsolation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := newSyncEnv(ctx, t)
	for _, ns := range []string{"shop", "blog"} {
		mustNamespace(ctx, t, e.vAdmin, ns)
		waitServiceAccount(ctx, t, e.vAdmin, ns)
	}
	forged := testPod("shop", "forged")
	forged.Labels[podisolation.LabelIngressIsolated] = "true"
	forged.Labels[podisolation.LabelEgressIsolated] = "true"
	for _, p := range []*corev1.Pod{testPod("shop", "x"), testPod("shop", "y"), forged, testPod("blog", "z")} {
		if _, err := e.vAdmin.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	type iso struct{ in, out bool }
	// expect waits until every pod's host copy has exactly the isolation given.
	expect := func(t *testing.T, want map[string]iso) {
		t.Helper()
		for key, w := range want {
			ns, name, _ := strings.Cut(key, "/")
			e.waitHostPod(ctx, t, ns, name, func(p *corev1.Pod) bool {
				return isolated(p.Labels, podisolation.LabelIngressIsolated) == w.in && isolated(p.Labels, podisolation.LabelEgressIsolated) == w.out
			})
		}
	}
	open := map[string]iso{"shop/x": {}, "shop/y": {}, "shop/forged": {}, "blog/z": {}}
	t.Run("no policy: no pod isolated, whatever its own labels say", func(t *testing.T) {
		expect(t, open)
		p, err := e.hostPod(ctx, "shop", "forged")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Labels[podisolation.LabelIngressIsolated]; ok {
			t.Errorf("host pod labels %v: the tenant's own label isolated it", p.Labels)
		}
	})

	policies := e.vAdmin.NetworkingV1().NetworkPolicies("shop")
	t.Run("a default-deny ingress isolates every pod of its namespace, for ingress only", func(t *testing.T) {
		_, err := policies.Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-in"}, Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, map[string]iso{"shop/x": {in: true}, "shop/y": {in: true}, "shop/forged": {in: true}, "blog/z": {}})
	})

	t.Run("egress rules without policy types isolate egress too, for the pods selected", func(t *testing.T) {
		_, err := policies.Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "x-out"}, Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"x"}}}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, map[string]iso{"shop/x": {in: true, out: true}, "shop/y": {in: true}, "shop/forged": {in: true}, "blog/z": {}})
	})

	relabel := func(t *testing.T, name, app string) {
		t.Helper()
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{"app": app}}})
		if _, err := e.vAdmin.CoreV1().Pods("shop").Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("a pod relabelled into and out of a policy's selector follows", func(t *testing.T) {
		relabel(t, "y", "x")
		expect(t, map[string]iso{"shop/y": {in: true, out: true}})
		relabel(t, "y", "y")
		expect(t, map[string]iso{"shop/y": {in: true}})
	})

	t.Run("a host-side edit of the labels is put back", func(t *testing.T) {
		p, err := e.hostPod(ctx, "shop", "x")
		if err != nil {
			t.Fatal(err)
		}
		delete(p.Labels, podisolation.LabelEgressIsolated)
		if _, err := e.hostAdmin.CoreV1().Pods(hostNS).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		expect(t, map[string]iso{"shop/x": {in: true, out: true}})
	})

	t.Run("a policy updated to select other pods releases the old ones", func(t *testing.T) {
		p, err := policies.Get(ctx, "x-out", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "forged"}}
		if _, err := policies.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		expect(t, map[string]iso{"shop/x": {in: true}, "shop/forged": {in: true, out: true}})
	})

	t.Run("deleted policies release their pods, and the labels then stay put", func(t *testing.T) {
		for _, name := range []string{"deny-in", "x-out"} {
			if err := policies.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		expect(t, open)
		// No spinning: a settled host pod is not written again.
		before, err := e.hostPod(ctx, "shop", "x")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		after, err := e.hostPod(ctx, "shop", "x")
		if err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != before.ResourceVersion {
			t.Errorf("host pod written again without a change: resourceVersion %s -> %s", before.ResourceVersion, after.ResourceVersion)
		}
	})
}

// isolated is true for the label set to "true", false for no label; any other value
// (never written by the syncer) is neither, and fails both expectations.
func isolated(l map[string]string, key string) any {
	v, ok := l[key]
	switch {
	case !ok:
		return false
	case v == "true":
		return true
	}
	return v
}

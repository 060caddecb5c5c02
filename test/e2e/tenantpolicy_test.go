package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kplex-dev/kplex/internal/syncer/podisolation"
)

// tenantPolicyPods are the pods of one tenant's namespace the tenant-policy test uses, as
// host namespace and host pod names, with y's pod address.
type tenantPolicyPods struct {
	ns      string // the virtual namespace of all three
	hostNS  string
	x, z    string // host names of two clients, labelled app=client and app=z
	y       string // host name of the web pod (app=web)
	yAddr   string // its pod IP and port
	dnsName string // a name the tenant's DNS answers
	dnsIP   string // its answer
}

// testTenantPolicies: a tenant's own NetworkPolicies are enforced on the host between its
// own pods (kube-router enforcing), while another tenant's pod stays shut out throughout.
// other is another tenant's client pod (host namespace and name).
func testTenantPolicies(ctx context.Context, t *testing.T, env *devhostEnv, cs kubernetes.Interface, p tenantPolicyPods, other [2]string) {
	reaches := func(from, what string) {
		t.Helper()
		waitFor(t, from+" connects to "+what+" "+p.yAddr, time.Minute, func(ctx context.Context) (bool, error) {
			return connects(ctx, env, p.hostNS, from, p.yAddr)
		})
	}
	// held checks, a few times, that a connection stays refused (not merely refused once
	// while the enforcer was between two states).
	var held func(ns, from, what string)
	refused := func(from, what string) {
		t.Helper()
		waitFor(t, from+" no longer connects to "+what+" "+p.yAddr, time.Minute, func(ctx context.Context) (bool, error) {
			ok, err := connects(ctx, env, p.hostNS, from, p.yAddr)
			return !ok, err
		})
		held(p.hostNS, from, what)
	}
	held = func(ns, from, what string) {
		t.Helper()
		for range 2 {
			if ok, _ := connects(ctx, env, ns, from, p.yAddr); ok {
				t.Errorf("%s/%s connected to %s %s", ns, from, what, p.yAddr)
				return
			}
		}
	}
	policies := cs.NetworkingV1().NetworkPolicies(p.ns)
	create := func(pol *networkingv1.NetworkPolicy) {
		t.Helper()
		if _, err := policies.Create(ctx, pol, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create network policy %s/%s: %v", p.ns, pol.Name, err)
		}
	}
	app := func(v string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": v}}
	}
	hostLabel := func(pod, key string) {
		t.Helper()
		waitFor(t, "host pod "+pod+" labelled "+key, time.Minute, func(ctx context.Context) (bool, error) {
			hp, err := env.client.CoreV1().Pods(p.hostNS).Get(ctx, pod, metav1.GetOptions{})
			return err == nil && hp.Labels[key] == "true", err
		})
	}

	// Controls: before any policy, x and z reach y, the other tenant does not.
	reaches(p.x, "y")
	reaches(p.z, "y")
	held(other[0], other[1], "another tenant's y")

	create(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default-deny-ingress"}, Spec: networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}})
	hostLabel(p.y, podisolation.LabelIngressIsolated)
	refused(p.x, "y after a default-deny ingress in its namespace")
	held(p.hostNS, p.z, "y after a default-deny ingress in its namespace")

	create(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web-from-client"}, Spec: networkingv1.NetworkPolicySpec{
		PodSelector: *app("web"),
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: app("client")}}}},
	}})
	reaches(p.x, "y once a policy allows app=client")
	held(p.hostNS, p.z, "y, which only app=client may reach")
	held(other[0], other[1], "another tenant's y")

	create(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "client-default-deny-egress"}, Spec: networkingv1.NetworkPolicySpec{
		PodSelector: *app("client"),
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
	}})
	hostLabel(p.x, podisolation.LabelEgressIsolated)
	refused(p.x, "y after a default-deny egress on x")
	// Its control plane's DNS stays: a tenant rule could never name it (docs/security.md).
	out, err := env.execInPod(ctx, p.hostNS, p.x, "nslookup", p.dnsName)
	if err != nil || !strings.Contains(out, p.dnsIP) {
		t.Errorf("x resolves %s through its control plane after a default-deny egress: %v\n%s", p.dnsName, err, out)
	}
}

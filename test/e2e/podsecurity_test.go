package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/operator"
)

// TestE2EPodSecurityLevels: a tenant's pod-security level is enforced by two walls, the
// tenant's API server (kplexd's admission) and the host namespace (Pod Security admission),
// and lowering it in the spec to baseline lowers both: a pod that runs as root is refused
// by each wall under restricted, then admitted by both and runs for real; a privileged pod
// stays refused by both.
func TestE2EPodSecurityLevels(t *testing.T) {
	env := startDevhost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, tenants := operatorTenants(ctx, t, env, "p")
	cs := tenants["p"]
	const ns = "app"
	tenantNamespace(t, "p", cs, ns)
	hostNS := v1alpha1.HostNamespace("p")

	root := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "root"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{testboxContainer("main", "sleep", "3600")}}} // the image runs as root
	privileged := root.DeepCopy()
	privileged.Name = "privileged"
	privileged.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}

	// refusedByBoth checks each wall on its own: the tenant's API server, and the host
	// namespace (the host admin's dry run goes through the host's admission, as the
	// syncer's create would).
	refusedByBoth := func(t *testing.T, cs kubernetes.Interface, p *corev1.Pod, level string) {
		t.Helper()
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p.DeepCopy(), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), fmt.Sprintf("violates PodSecurity %q", level+":latest")) {
			t.Errorf("tenant's API server, pod %s under %s: %v; want forbidden, naming the level", p.Name, level, err)
		}
		onHost := p.DeepCopy()
		onHost.Namespace = hostNS
		_, err = env.client.CoreV1().Pods(hostNS).Create(ctx, onHost, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), level) {
			t.Errorf("host namespace %s, pod %s under %s: %v; want forbidden by Pod Security admission", hostNS, p.Name, level, err)
		}
	}

	t.Run("restricted (default): root and privileged refused by both walls", func(t *testing.T) {
		refusedByBoth(t, cs, root, "restricted")
		refusedByBoth(t, cs, privileged, "restricted")
	})

	vc := &v1alpha1.VirtualCluster{}
	if err := c.Get(ctx, types.NamespacedName{Name: "p"}, vc); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(vc.DeepCopy())
	vc.Spec.Isolation.PodSecurity = v1alpha1.PodSecurityBaseline
	if err := c.Patch(ctx, vc, patch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "host namespace and control plane of p at baseline", 4*time.Minute, func(ctx context.Context) (bool, error) {
		n, err := env.client.CoreV1().Namespaces().Get(ctx, hostNS, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		sts, err := env.client.AppsV1().StatefulSets(hostNS).Get(ctx, operator.ControlPlaneName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		rolled := sts.Status.ObservedGeneration == sts.Generation && sts.Status.UpdateRevision == sts.Status.CurrentRevision &&
			sts.Status.ReadyReplicas == 1 && sts.Status.UpdatedReplicas == 1
		if level := n.Labels["pod-security.kubernetes.io/enforce"]; level != "baseline" || !rolled {
			return false, fmt.Errorf("namespace enforces %q, control plane rolled out: %v", level, rolled)
		}
		return true, nil
	})
	if err := waitReady(ctx, c, "p", 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	cs = tenantClient(ctx, t, env, c, "p") // the control plane restarted with the new level

	t.Run("baseline: root admitted by both walls and runs; privileged still refused", func(t *testing.T) {
		var err error
		waitFor(t, "tenant's API server admits the root pod", time.Minute, func(ctx context.Context) (bool, error) {
			_, err = cs.CoreV1().Pods(ns).Create(ctx, root.DeepCopy(), metav1.CreateOptions{})
			return err == nil, err
		})
		waitVirtualRunning(t, cs, ns, "root") // its host copy passed the host namespace's admission
		refusedByBoth(t, cs, privileged, "baseline")
	})
}

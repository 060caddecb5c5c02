package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/internal/podsecurity"
	"github.com/kplex-dev/kplex/internal/syncer/pods"
)

// TestSyncerNetworkGate: with a gate image the host API server accepts the host pod with
// the gate first (renamed past a tenant init container of its name); the virtual pod's
// status shows only the tenant's init containers; an image update of the tenant's init
// container is applied in place to that container, not to the gate.
func TestSyncerNetworkGate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newSyncEnv(ctx, t)
	e.shutdown(t)
	e.gate = pods.NetworkGate{Image: "localhost/kplex/kplexd:test", Probe: "10.96.0.1:443"}
	e.start()
	const ns = "gated"
	mustNamespace(ctx, t, e.vAdmin, ns)
	waitServiceAccount(ctx, t, e.vAdmin, ns)

	v := rootTestPod(ns, "web")
	v.Spec.InitContainers = []corev1.Container{{Name: pods.GateName, Image: "busybox", Command: []string{"true"}}}
	podsecurity.Restrict(&v.Spec)
	v, err := e.vAdmin.CoreV1().Pods(ns).Create(ctx, v, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := func(cs []corev1.Container) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	h := e.waitHostPod(ctx, t, ns, "web", nil)
	gate := pods.GateName + "-1"
	if got := names(h.Spec.InitContainers); !slices.Equal(got, []string{gate, pods.GateName}) {
		t.Fatalf("host init containers %v, want the gate %s first", got, gate)
	}
	if g := h.Spec.InitContainers[0]; g.Image != e.gate.Image || len(g.VolumeMounts) != 0 || len(g.EnvFrom) != 0 {
		t.Errorf("gate %+v", g)
	}

	// The kubelet reports the gate running: the tenant sees its own init container only.
	eventually(ctx, t, "host pod status with the gate running", func(ctx context.Context) (bool, error) {
		hp, err := e.hostPod(ctx, ns, "web")
		if err != nil {
			return false, err
		}
		now := metav1.Now()
		hp.Status = corev1.PodStatus{Phase: corev1.PodPending, StartTime: &now, PodIP: "10.244.0.9", PodIPs: []corev1.PodIP{{IP: "10.244.0.9"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionFalse, Reason: "ContainersNotInitialized",
				Message: "containers with incomplete status: [" + gate + " " + pods.GateName + "]", LastTransitionTime: now}},
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: gate, Image: e.gate.Image, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
				{Name: pods.GateName, Image: "busybox", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
			}}
		_, err = e.hostAdmin.CoreV1().Pods(hostNS).UpdateStatus(ctx, hp, metav1.UpdateOptions{})
		return err == nil, err
	})
	eventually(ctx, t, "virtual status without the gate", func(ctx context.Context) (bool, error) {
		vp, err := e.vAdmin.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || vp.Status.PodIP != "10.244.0.9" {
			return false, err
		}
		st := vp.Status
		// The host's scheduler may add its own condition (no node fits) in any order.
		i := slices.IndexFunc(st.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodInitialized })
		if len(st.InitContainerStatuses) != 1 || st.InitContainerStatuses[0].Name != pods.GateName ||
			i < 0 || st.Conditions[i].Message != "containers with incomplete status: ["+pods.GateName+"]" {
			t.Fatalf("virtual status shows the gate: %+v", st)
		}
		return true, nil
	})

	// The tenant updates its init container's image: in place, by name.
	eventually(ctx, t, "virtual image update", func(ctx context.Context) (bool, error) {
		vp, err := e.vAdmin.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		vp.Spec.InitContainers[0].Image = "busybox:2"
		_, err = e.vAdmin.CoreV1().Pods(ns).Update(ctx, vp, metav1.UpdateOptions{})
		return err == nil, err
	})
	h2 := e.waitHostPod(ctx, t, ns, "web", func(p *corev1.Pod) bool { return p.Spec.InitContainers[1].Image == "busybox:2" })
	if h2.UID != h.UID || h2.Spec.InitContainers[0].Image != e.gate.Image {
		t.Errorf("host pod %s (was %s): gate image %q", h2.UID, h.UID, h2.Spec.InitContainers[0].Image)
	}
}

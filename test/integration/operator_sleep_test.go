package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/operator"
	"github.com/kplex-dev/kplex/internal/podsecurity"
	"github.com/kplex-dev/kplex/internal/syncer"
	"github.com/kplex-dev/kplex/internal/translate"
)

// TestOperatorSleepAndWake: asked to sleep, the operator stops the control plane, then
// removes every host pod of the tenant and nothing else (claims, other pods stay); a later
// wake starts the control plane again (phase Waking, then Ready once it is); an idle
// cluster falls asleep by itself after spec.sleep.afterInactivity. No kubelet runs here:
// the test plays the kubelet and the control plane (ready pod, published kubeconfig).
func TestOperatorSleepAndWake(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newOperatorEnv(ctx, t)
	e.create(ctx, "idle", v1alpha1.VirtualClusterSpec{Sleep: v1alpha1.Sleep{AfterInactivity: &metav1.Duration{Duration: time.Minute}}})
	e.create(ctx, "s", v1alpha1.VirtualClusterSpec{})
	for _, name := range []string{"idle", "s"} {
		e.actAsControlPlane(ctx, name)
	}
	e.waitCondition(ctx, "idle", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, v1alpha1.PhaseReady)
	// idle's last request came before it was Ready (kplexd's report, as it writes it): it
	// does not delay the sleep, but the status must show it.
	idleActivity := e.get(ctx, "idle").CreationTimestamp.Time
	e.writeActivity(ctx, "idle", idleActivity)
	vc := e.waitCondition(ctx, "s", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, v1alpha1.PhaseReady)
	if c := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionAsleep); c != nil {
		t.Errorf("Asleep condition %+v on a cluster that never slept", c)
	}

	// The tenant's host pods, a pod that is not the tenant's, and a claim.
	ns := v1alpha1.HostNamespace("s")
	for name, owner := range map[string]string{"web-x1": "s", "db-x2": "s", "other": "someone-else"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{translate.LabelManagedBy: owner}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
		podsecurity.Restrict(&p.Spec) // the host namespace enforces restricted
		if err := e.c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data-x3", Labels: map[string]string{translate.LabelManagedBy: "s"}},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	if err := e.c.Create(ctx, pvc); err != nil {
		t.Fatal(err)
	}

	t.Run("an unreadable request is reported, not acted on", func(t *testing.T) {
		e.annotate(ctx, "s", v1alpha1.AnnotationSleepRequested, "yesterday")
		vc := e.waitCondition(ctx, "s", v1alpha1.ConditionAsleep, metav1.ConditionFalse, v1alpha1.ReasonInvalidSleepRequest, v1alpha1.PhaseReady)
		if c := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionAsleep); !strings.Contains(c.Message, v1alpha1.AnnotationSleepRequested) {
			t.Errorf("message %q does not name the annotation", c.Message)
		}
	})

	t.Run("sleep", func(t *testing.T) {
		e.annotate(ctx, "s", v1alpha1.AnnotationSleepRequested, time.Now().UTC().Format(time.RFC3339Nano))
		e.actAsKubeletStopping(ctx, ns, operator.ControlPlaneName+"-0")
		e.waitCondition(ctx, "s", v1alpha1.ConditionAsleep, metav1.ConditionTrue, v1alpha1.ReasonSleeping, v1alpha1.PhaseSleeping)
		sts := &appsv1.StatefulSet{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.ControlPlaneName}, sts); err != nil {
			t.Fatal(err)
		}
		if r := ptr.Deref(sts.Spec.Replicas, 1); r != 0 || sts.Status.Replicas != 0 {
			t.Errorf("control plane: %d replicas wanted, %d running; want none", r, sts.Status.Replicas)
		}
		pods := &corev1.PodList{}
		if err := e.c.List(ctx, pods, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, p := range pods.Items {
			left = append(left, p.Name)
		}
		if len(left) != 1 || left[0] != "other" {
			t.Errorf("pods left in %s: %v; want only the one that is not the tenant's", ns, left)
		}
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(pvc), pvc); err != nil {
			t.Errorf("the tenant's claim: %v; want it kept for the wake", err)
		}
		if b, err := e.hostSecret(ctx, ns); err != nil || len(b) == 0 {
			t.Errorf("kubeconfig secret: %v; want it kept", err)
		}
	})

	t.Run("wake", func(t *testing.T) {
		e.annotate(ctx, "s", v1alpha1.AnnotationWakeRequested, time.Now().UTC().Format(time.RFC3339Nano))
		e.waitFor(ctx, "control plane scaled up", time.Minute, func(ctx context.Context) (bool, string) {
			sts := &appsv1.StatefulSet{}
			if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: operator.ControlPlaneName}, sts); err != nil {
				return false, err.Error()
			}
			vc := e.get(ctx, "s")
			return ptr.Deref(sts.Spec.Replicas, 0) == 1 && (vc.Status.Phase == v1alpha1.PhaseWaking || vc.Status.Phase == v1alpha1.PhaseReady),
				fmt.Sprintf("replicas %v, phase %s", sts.Spec.Replicas, vc.Status.Phase)
		})
		e.actAsControlPlane(ctx, "s")
		e.waitCondition(ctx, "s", v1alpha1.ConditionAsleep, metav1.ConditionFalse, v1alpha1.ReasonAwake, v1alpha1.PhaseReady)
	})

	t.Run("idle cluster falls asleep by itself", func(t *testing.T) {
		e.actAsKubeletStopping(ctx, v1alpha1.HostNamespace("idle"), operator.ControlPlaneName+"-0")
		e.waitFor(ctx, "idle asleep", 2*time.Minute, func(ctx context.Context) (bool, string) {
			vc := e.get(ctx, "idle")
			c := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionAsleep)
			return c != nil && c.Status == metav1.ConditionTrue && vc.Status.Phase == v1alpha1.PhaseSleeping,
				fmt.Sprintf("phase %s, asleep %+v", vc.Status.Phase, c)
		})
		vc := e.get(ctx, "idle")
		if r := vc.Annotations[v1alpha1.AnnotationSleepReason]; !strings.HasPrefix(r, "inactive since") {
			t.Errorf("sleep reason %q, want it to say the cluster was inactive", r)
		}
		if a := vc.Status.LastActivityTime; a == nil || !a.Time.Equal(idleActivity) {
			t.Errorf("status.lastActivityTime %v, want the reported %s", a, idleActivity.UTC().Format(time.RFC3339))
		}
	})

	t.Run("the last activity is shown while awake", func(t *testing.T) {
		at := time.Now().Truncate(time.Second)
		e.writeActivity(ctx, "s", at)
		e.annotate(ctx, "s", "example.com/touched", at.String()) // any event brings a reconcile
		e.waitFor(ctx, "status.lastActivityTime of s", time.Minute, func(ctx context.Context) (bool, string) {
			a := e.get(ctx, "s").Status.LastActivityTime
			return a != nil && a.Time.Equal(at), fmt.Sprintf("lastActivityTime %v, want %s", a, at)
		})
	})
}

// TestOperatorSleepRaces: a wake that comes while a cluster goes to sleep wins, and the
// cluster comes back Ready; an operator killed while a cluster goes to sleep finishes the
// sleep once restarted; a sleeping cluster is deleted with all its host objects. No phase
// stays stuck.
func TestOperatorSleepRaces(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newOperatorEnv(ctx, t)
	names := []string{"w", "k", "d"}
	for _, name := range names {
		e.create(ctx, name, v1alpha1.VirtualClusterSpec{})
	}
	for _, name := range names {
		e.actAsControlPlane(ctx, name)
		e.waitCondition(ctx, name, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, v1alpha1.PhaseReady)
	}
	now := func() string { return time.Now().UTC().Format(time.RFC3339Nano) }
	controlPlanePod := operator.ControlPlaneName + "-0"

	t.Run("a wake while going to sleep wins", func(t *testing.T) {
		e.annotate(ctx, "w", v1alpha1.AnnotationSleepRequested, now())
		// The control plane's pod is being deleted; the test's kubelet has not finished it.
		e.waitCondition(ctx, "w", v1alpha1.ConditionAsleep, metav1.ConditionFalse, v1alpha1.ReasonGoingToSleep, v1alpha1.PhaseSleeping)
		e.annotate(ctx, "w", v1alpha1.AnnotationWakeRequested, now())
		e.actAsKubeletStopping(ctx, v1alpha1.HostNamespace("w"), controlPlanePod)
		e.actAsControlPlane(ctx, "w")
		e.waitCondition(ctx, "w", v1alpha1.ConditionAsleep, metav1.ConditionFalse, v1alpha1.ReasonAwake, v1alpha1.PhaseReady)
		sts := &appsv1.StatefulSet{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: v1alpha1.HostNamespace("w"), Name: operator.ControlPlaneName}, sts); err != nil {
			t.Fatal(err)
		}
		if r := ptr.Deref(sts.Spec.Replicas, 0); r != 1 {
			t.Errorf("control plane of the woken cluster: %d replicas, want 1", r)
		}
	})

	t.Run("an operator killed while a cluster goes to sleep finishes the sleep", func(t *testing.T) {
		e.annotate(ctx, "k", v1alpha1.AnnotationSleepRequested, now())
		e.waitCondition(ctx, "k", v1alpha1.ConditionAsleep, metav1.ConditionFalse, v1alpha1.ReasonGoingToSleep, v1alpha1.PhaseSleeping)
		e.killOperator()
		e.actAsKubeletStopping(ctx, v1alpha1.HostNamespace("k"), controlPlanePod)
		e.startOperator()
		e.waitCondition(ctx, "k", v1alpha1.ConditionAsleep, metav1.ConditionTrue, v1alpha1.ReasonSleeping, v1alpha1.PhaseSleeping)
	})

	t.Run("a sleeping cluster is deleted with all its host objects", func(t *testing.T) {
		e.annotate(ctx, "d", v1alpha1.AnnotationSleepRequested, now())
		e.actAsKubeletStopping(ctx, v1alpha1.HostNamespace("d"), controlPlanePod)
		e.waitCondition(ctx, "d", v1alpha1.ConditionAsleep, metav1.ConditionTrue, v1alpha1.ReasonSleeping, v1alpha1.PhaseSleeping)
		if err := e.c.Delete(ctx, &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: "d"}}); err != nil {
			t.Fatal(err)
		}
		e.waitGone(ctx, "d")
		if got := e.hostObjectsOf(ctx, "d"); len(got) != 0 {
			t.Errorf("left behind after deleting sleeping d: %v", got)
		}
		if vc := e.get(ctx, "k"); vc.Status.Phase != v1alpha1.PhaseSleeping {
			t.Errorf("k, asleep, touched by d's deletion: phase %s", vc.Status.Phase)
		}
	})
}

// writeActivity writes a cluster's activity Lease as its kplexd does.
func (e *operatorEnv) writeActivity(ctx context.Context, name string, at time.Time) {
	e.t.Helper()
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: v1alpha1.HostNamespace(name), Name: syncer.ActivityLease},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("kplex-controlplane"), RenewTime: ptr.To(metav1.NewMicroTime(at))}}
	if err := e.c.Create(ctx, l); err != nil {
		e.t.Fatal(err)
	}
}

// annotate sets one annotation of a VirtualCluster, as kplex sleep/wake or the gateway do.
func (e *operatorEnv) annotate(ctx context.Context, name, key, value string) {
	e.t.Helper()
	vc := e.get(ctx, name)
	patch := client.MergeFrom(vc.DeepCopy())
	if vc.Annotations == nil {
		vc.Annotations = map[string]string{}
	}
	vc.Annotations[key] = value
	if err := e.c.Patch(ctx, vc, patch); err != nil {
		e.t.Fatal(err)
	}
}

func (e *operatorEnv) hostSecret(ctx context.Context, ns string) ([]byte, error) {
	s := &corev1.Secret{}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: install.KubeconfigSecret}, s); err != nil {
		return nil, err
	}
	return s.Data[v1alpha1.KubeconfigSecretKey], nil
}

// actAsKubeletStopping finishes the graceful deletion of a pod once it is asked for, as the
// node's kubelet would once its containers stopped.
func (e *operatorEnv) actAsKubeletStopping(ctx context.Context, ns, name string) {
	e.t.Helper()
	e.waitFor(ctx, "pod "+name+" deleted", time.Minute, func(ctx context.Context) (bool, string) {
		p := &corev1.Pod{}
		err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, p)
		switch {
		case apierrors.IsNotFound(err):
			return true, ""
		case err != nil:
			return false, err.Error()
		case p.DeletionTimestamp == nil:
			return false, "not being deleted yet"
		}
		if err := e.c.Delete(ctx, p, client.GracePeriodSeconds(0), client.Preconditions{UID: &p.UID}); client.IgnoreNotFound(err) != nil {
			return false, err.Error()
		}
		return false, "deleted"
	})
}

// actAsControlPlane does what a node and kplexd would: the control-plane pod is bound to a
// node and ready, and the admin kubeconfig is published.
func (e *operatorEnv) actAsControlPlane(ctx context.Context, name string) {
	e.t.Helper()
	ns := v1alpha1.HostNamespace(name)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fake-node"}}
	if err := e.c.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: ns, Name: operator.ControlPlaneName + "-0"}
	e.waitFor(ctx, "control-plane pod of "+name+" running and ready", time.Minute, func(ctx context.Context) (bool, string) {
		p := &corev1.Pod{}
		if err := e.c.Get(ctx, key, p); err != nil {
			return false, err.Error()
		}
		if p.Spec.NodeName == "" {
			b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p.Name, UID: p.UID}, Target: corev1.ObjectReference{Kind: "Node", Name: node.Name}}
			if err := e.c.SubResource("binding").Create(ctx, p, b); err != nil {
				return false, err.Error()
			}
			return false, "bound"
		}
		now := metav1.Now()
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, Ready: true, Started: ptr.To(true),
			Image: p.Spec.Containers[0].Image, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
		if err := e.c.Status().Update(ctx, p); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: install.KubeconfigSecret},
		Data: map[string][]byte{v1alpha1.KubeconfigSecretKey: []byte("apiVersion: v1\nkind: Config\n")}}
	if err := e.c.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
}

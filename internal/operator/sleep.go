package operator

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/syncer"
	"github.com/kplex-dev/kplex/internal/translate"
)

// SleeperBinding binds install.Sleeper to the operator in the tenant's namespace: the
// rights to remove the tenant's host pods and read its activity, there only.
const SleeperBinding = "kplex-sleeper"

// SleeperRoleBinding is the operator's own binding in the tenant's namespace.
func SleeperRoleBinding(vc *v1alpha1.VirtualCluster) *rbacv1.RoleBinding {
	rb := &rbacv1.RoleBinding{
		ObjectMeta: objectMeta(vc, SleeperBinding),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: install.Sleeper},
		Subjects:   install.OperatorSubject(),
	}
	rb.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("RoleBinding"))
	return rb
}

// sleepRequest is what the request annotations ask for: the later of the two wins, so a
// wake that follows a sleep (or the reverse) is never lost, whatever order the operator
// sees them in. A time that does not parse counts as absent and is reported.
type sleepRequest struct {
	asleep     bool
	sleepAt    time.Time
	wakeAt     time.Time
	reason     string
	badRequest string // a one-line complaint about an annotation, or ""
}

func readSleepRequest(vc *v1alpha1.VirtualCluster) sleepRequest {
	var r sleepRequest
	parse := func(key string) time.Time {
		v, ok := vc.Annotations[key]
		if !ok {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			r.badRequest = fmt.Sprintf("annotation %s=%q is not an RFC 3339 time (e.g. %s): ignored; use kplex sleep or kplex wake", key, v, time.Now().UTC().Format(time.RFC3339))
			return time.Time{}
		}
		return t
	}
	r.sleepAt, r.wakeAt = parse(v1alpha1.AnnotationSleepRequested), parse(v1alpha1.AnnotationWakeRequested)
	r.asleep = r.sleepAt.After(r.wakeAt)
	r.reason = vc.Annotations[v1alpha1.AnnotationSleepReason]
	if r.reason == "" {
		r.reason = "requested"
	}
	return r
}

// sleep takes a virtual cluster to sleep: the control plane first (applyHostObjects has
// scaled it to zero, so the syncer cannot recreate what follows), then every host pod of
// the tenant. Its volumes, Services and Secrets stay: waking brings back what was there.
// sts is the control plane's StatefulSet as applied, scaled to zero.
func (r *Reconciler) sleep(ctx context.Context, vc *v1alpha1.VirtualCluster, req sleepRequest, sts *appsv1.StatefulSet) (ctrl.Result, error) {
	ns := vc.Status.HostNamespace
	vc.Status.Phase = v1alpha1.PhaseSleeping
	going := func(msg string) (ctrl.Result, error) {
		r.set(vc, v1alpha1.ConditionAsleep, false, v1alpha1.ReasonGoingToSleep, msg)
		r.set(vc, v1alpha1.ConditionReady, false, v1alpha1.ReasonGoingToSleep, msg)
		return ctrl.Result{RequeueAfter: pollStarting}, nil
	}
	if sts.Status.Replicas > 0 || (sts.Spec.Replicas != nil && *sts.Spec.Replicas > 0) {
		return going("stopping the control plane")
	}
	r.set(vc, v1alpha1.ConditionControlPlane, false, v1alpha1.ReasonSleeping, "scaled to zero while the virtual cluster sleeps")

	tenantPods := client.MatchingLabels{translate.LabelManagedBy: vc.Name}
	pods := &corev1.PodList{}
	if err := r.Reader.List(ctx, pods, client.InNamespace(ns), tenantPods); err != nil {
		return ctrl.Result{}, fmt.Errorf("list the tenant's host pods in %s: %w", ns, err)
	}
	if len(pods.Items) > 0 {
		if err := r.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), tenantPods); err != nil {
			return ctrl.Result{}, fmt.Errorf("delete the tenant's host pods in %s: %w", ns, err)
		}
		return going(fmt.Sprintf("removing %d host pods of the tenant", len(pods.Items)))
	}
	msg := fmt.Sprintf("asleep since %s (%s): no control plane and no host pod; kplex wake %s, or a connection through the gateway, wakes it",
		req.sleepAt.UTC().Format(time.RFC3339), req.reason, vc.Name)
	r.set(vc, v1alpha1.ConditionAsleep, true, v1alpha1.ReasonSleeping, msg)
	r.set(vc, v1alpha1.ConditionReady, false, v1alpha1.ReasonSleeping, msg)
	return ctrl.Result{}, nil
}

// waking reports whether the virtual cluster is coming back from sleep (it was asleep, or
// going to sleep, and is not Ready yet).
func waking(vc *v1alpha1.VirtualCluster) bool {
	c := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionAsleep)
	return c != nil && (c.Reason == v1alpha1.ReasonSleeping || c.Reason == v1alpha1.ReasonGoingToSleep || c.Reason == v1alpha1.ReasonWaking)
}

// watchActivity records the tenant's last activity and, when spec.sleep.afterInactivity
// has passed since then, asks for sleep (the annotation: the next reconcile acts on it).
// It returns when to look again: within pollActivity, so that the status stays current.
func (r *Reconciler) watchActivity(ctx context.Context, vc *v1alpha1.VirtualCluster, req sleepRequest) (ctrl.Result, error) {
	lease := &coordinationv1.Lease{}
	err := r.Reader.Get(ctx, types.NamespacedName{Namespace: vc.Status.HostNamespace, Name: syncer.ActivityLease}, lease)
	switch {
	case err == nil && lease.Spec.RenewTime != nil:
		t := metav1.NewTime(lease.Spec.RenewTime.Time)
		vc.Status.LastActivityTime = &t
	case err != nil && !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err):
		return ctrl.Result{}, fmt.Errorf("get lease %s/%s: %w", vc.Status.HostNamespace, syncer.ActivityLease, err)
	}
	after := vc.Spec.Sleep.AfterInactivity
	if after == nil || after.Duration <= 0 {
		return ctrl.Result{RequeueAfter: pollActivity}, nil
	}
	// Idle since the latest of: the last request, the last wake, becoming Ready, creation.
	idleSince := vc.CreationTimestamp.Time
	for _, t := range []time.Time{req.wakeAt, readySince(vc)} {
		if t.After(idleSince) {
			idleSince = t
		}
	}
	if a := vc.Status.LastActivityTime; a != nil && a.After(idleSince) {
		idleSince = a.Time
	}
	if left := time.Until(idleSince.Add(after.Duration)); left > 0 {
		return ctrl.Result{RequeueAfter: min(left+time.Second, pollActivity)}, nil
	}
	// The patch is made on a copy: the server's answer carries the stored status, which
	// would otherwise replace the status this reconcile computed (lastActivityTime
	// included) before it is written.
	asked := vc.DeepCopy()
	patch := client.MergeFrom(vc.DeepCopy())
	if asked.Annotations == nil {
		asked.Annotations = map[string]string{}
	}
	asked.Annotations[v1alpha1.AnnotationSleepRequested] = time.Now().UTC().Format(time.RFC3339Nano)
	asked.Annotations[v1alpha1.AnnotationSleepReason] = fmt.Sprintf("inactive since %s, spec.sleep.afterInactivity %s", idleSince.UTC().Format(time.RFC3339), after.Duration)
	if err := r.Client.Patch(ctx, asked, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("ask virtual cluster %s to sleep: %w", vc.Name, err)
	}
	return ctrl.Result{}, nil // the annotation's update brings it back
}

func readySince(vc *v1alpha1.VirtualCluster) time.Time {
	if c := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

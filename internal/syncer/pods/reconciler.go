// Package pods syncs a tenant's pods: virtual -> host (rewritten spec, service-account
// token), host -> virtual (status, node binding), and removes host pods whose virtual
// pod is gone.
package pods

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kplex-dev/kplex/internal/syncer/hostwatch"
	"github.com/kplex-dev/kplex/internal/syncer/podisolation"
	"github.com/kplex-dev/kplex/internal/translate"
)

// Reconciler syncs one virtual pod (requests are virtual namespace/name).
type Reconciler struct {
	Virtual       client.Client // the manager's (cached) client
	VirtualReader client.Reader // uncached: deletion decisions read the live object
	Host          cluster.Cluster
	Translator    *translate.Translator
	// CA is the virtual API server's CA bundle (ca.crt in the pod).
	CA []byte
	// APIHost and APIPort: the virtual API server as pods reach it.
	APIHost, APIPort string
	TokenAudiences   []string
	TokenLifetime    time.Duration
	Workers          int
	// DNS is the tenant's resolver (zero: pods keep their DNS settings).
	DNS DNS
	// Gate runs before every container of the pod (zero Image: none).
	Gate NetworkGate
	Log  logr.Logger

	pending *pending // host objects created that the host cache may not show yet
}

// SetupWithManager registers the pod syncer and the host-side orphan collector.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	r.pending = newPending()
	hostCache := r.Host.GetCache()
	err := builder.ControllerManagedBy(mgr).
		Named("pods").
		For(&corev1.Pod{}).
		WatchesRawSource(hostwatch.Copies(r.Host, &corev1.Pod{}, r.Translator)).
		WatchesRawSource(source.Kind(hostCache, &corev1.Secret{}, handler.TypedEnqueueRequestsFromMapFunc(r.tokenToVirtual))).
		// A policy's spec decides which pods of its namespace it isolates; its labels and
		// annotations do not (generation changes only with the spec).
		Watches(&networkingv1.NetworkPolicy{}, handler.EnqueueRequestsFromMapFunc(r.namespacePods),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		WithLogConstructor(hostwatch.Logger(r.Log, "pod")).
		Complete(r)
	if err != nil {
		return err
	}
	return builder.ControllerManagedBy(mgr).
		Named("pod-orphans").
		WatchesRawSource(source.Kind(hostCache, &corev1.Pod{}, &handler.TypedEnqueueRequestForObject[*corev1.Pod]{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers/2, 1)}).
		WithLogConstructor(func(req *reconcile.Request) logr.Logger {
			if req == nil {
				return r.Log
			}
			return r.Log.WithValues("hostPod", req.Name)
		}).
		Complete(&orphans{r})
}

// namespacePods maps a NetworkPolicy to every pod of its namespace, whose isolation it may
// change. A pod's own label changes reach Reconcile as pod events.
func (r *Reconciler) namespacePods(ctx context.Context, p client.Object) []reconcile.Request {
	var list corev1.PodList
	if err := r.Virtual.List(ctx, &list, client.InNamespace(p.GetNamespace())); err != nil {
		r.Log.Error(err, "Cannot list the pods a network policy may isolate", "namespace", p.GetNamespace(), "networkPolicy", p.GetName())
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// tokenToVirtual maps a token Secret to its pod: a deleted or changed token is put back.
func (r *Reconciler) tokenToVirtual(_ context.Context, s *corev1.Secret) []reconcile.Request {
	if s.Labels[LabelTokenFor] == "" {
		return nil
	}
	a := s.Annotations
	ns, name := a[translate.AnnotationVirtualNamespace], a[translate.AnnotationVirtualName]
	if name == "" || TokenSecretName(r.Translator, ns, name) != s.Name {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
}

// Reconcile brings the host copy of one virtual pod, and the virtual pod's status, up
// to date.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	hostKey := types.NamespacedName{Namespace: r.Translator.Tenant().HostNamespace, Name: r.Translator.HostName(req.Namespace, req.Name)}

	vpod := &corev1.Pod{}
	if err := r.Virtual.Get(ctx, req.NamespacedName, vpod); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		vpod = nil
	}
	hpod := &corev1.Pod{}
	if err := r.Host.GetClient().Get(ctx, hostKey, hpod); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("get host pod %s: %w", hostKey.Name, err)
		}
		hpod = nil
	}

	if hpod != nil {
		ns, name, uid, ok := r.Translator.VirtualRef(hpod)
		switch {
		case !ok || ns != req.Namespace || name != req.Name:
			// Not a copy of this virtual pod, yet it has its host name: a hash collision or
			// a corrupt object. Never overwrite it; the orphan collector judges it.
			return reconcile.Result{}, fmt.Errorf("host pod %s does not record virtual pod %s/%s: refusing to touch it", hpod.Name, req.Namespace, req.Name)
		case vpod == nil || uid != vpod.UID:
			// The virtual pod is gone, or its name was reused: the old copy goes first.
			log.V(1).Info("Deleting host pod of a previous virtual pod", "hostPod", hpod.Name, "recordedUID", uid)
			return reconcile.Result{}, r.deleteHostPod(ctx, hpod, nil)
		}
	}
	if hpod != nil {
		r.pending.seenPod(req.NamespacedName)
	}
	if vpod == nil {
		// The pod is gone. Its token normally goes with the host pod (it owns it), but a
		// token made just before a crash may have no owner yet.
		r.pending.forget(req.NamespacedName)
		return reconcile.Result{}, r.deleteStaleToken(ctx, req.Namespace, req.Name)
	}
	if vpod.DeletionTimestamp != nil {
		return reconcile.Result{}, r.finishDeletion(ctx, vpod, hpod)
	}
	if hpod == nil {
		if isTerminal(vpod) {
			return reconcile.Result{}, nil // a finished pod is not started again
		}
		if wait := r.pending.pod(req.NamespacedName, vpod.UID, time.Now()); wait > 0 {
			// Created moments ago; its watch event brings the pod back.
			return reconcile.Result{RequeueAfter: wait}, nil
		}
		return r.create(ctx, vpod)
	}
	return r.update(ctx, vpod, hpod)
}

func isTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// desired is the rewritten host pod of vpod.
func (r *Reconciler) desired(ctx context.Context, vpod *corev1.Pod) (*corev1.Pod, bool, error) {
	opts := RewriteOptions{APIHost: r.APIHost, APIPort: r.APIPort, DNS: r.DNS, Gate: r.Gate}
	if vpod.Spec.EnableServiceLinks == nil || *vpod.Spec.EnableServiceLinks {
		var svcs corev1.ServiceList
		if err := r.Virtual.List(ctx, &svcs, client.InNamespace(vpod.Namespace)); err != nil {
			return nil, false, fmt.Errorf("list services for the environment of %s/%s: %w", vpod.Namespace, vpod.Name, err)
		}
		opts.ServiceEnv = ServiceEnv(svcs.Items)
	}
	hpod, needsToken := HostPod(r.Translator, vpod, opts)
	// The tenant's NetworkPolicies isolate the pod in the virtual cluster: the labels make
	// the host's same-tenant allows step aside (podisolation.LabelIngressIsolated).
	var policies networkingv1.NetworkPolicyList
	if err := r.Virtual.List(ctx, &policies, client.InNamespace(vpod.Namespace)); err != nil {
		return nil, false, fmt.Errorf("list network policies isolating %s/%s: %w", vpod.Namespace, vpod.Name, err)
	}
	podisolation.Of(vpod.Namespace, vpod.Labels, policies.Items).SetLabels(hpod.Labels)
	return hpod, needsToken, nil
}

// create makes the host pod and, at the same time, its token Secret: the token takes a
// request to the virtual API server and one to the host, and the pod need not wait for
// them. Its containers do: the token is a Secret volume that is not optional, so a kubelet
// starts none of them before the Secret exists, and none ever runs without its token (if
// the Secret cannot be made, the reconcile fails and is retried, and the pod waits).
func (r *Reconciler) create(ctx context.Context, vpod *corev1.Pod) (reconcile.Result, error) {
	hpod, needsToken, err := r.desired(ctx, vpod)
	if err != nil {
		return reconcile.Result{}, err
	}
	var (
		refresh  time.Duration
		tokenErr error
		wg       sync.WaitGroup
	)
	if needsToken {
		wg.Go(func() { refresh, tokenErr = r.ensureToken(ctx, vpod) })
	}
	podErr := r.Host.GetClient().Create(ctx, hpod)
	wg.Wait()
	again := reconcile.Result{RequeueAfter: refresh}
	switch {
	case podErr == nil:
		r.pending.podCreated(client.ObjectKeyFromObject(vpod), vpod.UID, time.Now())
		logr.FromContextOrDiscard(ctx).V(1).Info("Created host pod", "hostPod", hpod.Name)
	case apierrors.IsAlreadyExists(podErr):
		podErr, again = nil, reconcile.Result{Requeue: true} // the cache had not seen it yet
	default:
		podErr = fmt.Errorf("create host pod %s: %w", hpod.Name, podErr)
	}
	if err := errors.Join(podErr, tokenErr); err != nil {
		return reconcile.Result{}, err
	}
	return again, nil
}

func (r *Reconciler) update(ctx context.Context, vpod, hpod *corev1.Pod) (reconcile.Result, error) {
	desired, needsToken, err := r.desired(ctx, vpod)
	if err != nil {
		return reconcile.Result{}, err
	}
	hc := r.Host.GetClient()
	if hpod.DeletionTimestamp == nil && hpod.Annotations[AnnotationSpecHash] != desired.Annotations[AnnotationSpecHash] {
		if hpod.Annotations[AnnotationFixedSpecHash] != desired.Annotations[AnnotationFixedSpecHash] {
			// The host cannot apply this change to a pod: replace it.
			logr.FromContextOrDiscard(ctx).Info("Replacing host pod: its spec changed", "hostPod", hpod.Name)
			return reconcile.Result{}, r.deleteHostPod(ctx, hpod, nil)
		}
		upd := hpod.DeepCopy()
		applyMutable(&upd.Spec, &desired.Spec)
		upd.Labels = desired.Labels
		upd.Annotations = desired.Annotations
		if err := hc.Update(ctx, upd); err != nil {
			return reconcile.Result{}, fmt.Errorf("update host pod %s: %w", hpod.Name, err)
		}
		hpod = upd
	} else if !equalMaps(hpod.Labels, desired.Labels) && hpod.DeletionTimestamp == nil {
		upd := hpod.DeepCopy()
		upd.Labels = desired.Labels
		if err := hc.Update(ctx, upd); err != nil {
			return reconcile.Result{}, fmt.Errorf("update labels of host pod %s: %w", hpod.Name, err)
		}
		hpod = upd
	}
	var refresh time.Duration
	if needsToken && hpod.DeletionTimestamp == nil {
		if refresh, err = r.ensureToken(ctx, vpod); err != nil {
			return reconcile.Result{}, err
		}
	}
	bindWait, err := r.syncBack(ctx, vpod, hpod)
	if err != nil {
		return reconcile.Result{}, err
	}
	if bindWait > 0 && (refresh == 0 || bindWait < refresh) {
		refresh = bindWait
	}
	return reconcile.Result{RequeueAfter: refresh}, nil
}

// finishDeletion does what a kubelet does for a pod being deleted: stop it (delete the
// host pod with the same grace period), then remove the virtual pod once it is gone.
func (r *Reconciler) finishDeletion(ctx context.Context, vpod, hpod *corev1.Pod) error {
	if hpod != nil {
		if _, err := r.syncBack(ctx, vpod, hpod); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return err
		}
		if hpod.DeletionTimestamp != nil {
			return nil // the host pod's deletion event brings us back
		}
		return r.deleteHostPod(ctx, hpod, vpod.DeletionGracePeriodSeconds)
	}
	// The cache may lag behind a host pod just created: ask the host itself.
	live := &corev1.Pod{}
	key := types.NamespacedName{Namespace: r.Translator.Tenant().HostNamespace, Name: r.Translator.HostName(vpod.Namespace, vpod.Name)}
	if err := r.Host.GetAPIReader().Get(ctx, key, live); err == nil {
		return fmt.Errorf("host pod %s still exists", key.Name) // retried with backoff
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	err := r.Virtual.Delete(ctx, vpod, client.GracePeriodSeconds(0), client.Preconditions{UID: &vpod.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("remove virtual pod %s/%s: %w", vpod.Namespace, vpod.Name, err)
	}
	return nil
}

// deleteHostPod deletes exactly hpod (not a newer pod of the same name).
func (r *Reconciler) deleteHostPod(ctx context.Context, hpod *corev1.Pod, grace *int64) error {
	opts := []client.DeleteOption{client.Preconditions{UID: &hpod.UID}}
	if grace != nil {
		opts = append(opts, client.GracePeriodSeconds(*grace))
	}
	err := r.Host.GetClient().Delete(ctx, hpod, opts...)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete host pod %s: %w", hpod.Name, err)
	}
	return nil
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// orphans deletes host pods whose virtual pod is gone or was replaced (requests are host
// namespace/name). Every host pod is seen once at start: that is the startup sweep.
type orphans struct{ r *Reconciler }

func (o *orphans) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	r := o.r
	hpod := &corev1.Pod{}
	if err := r.Host.GetClient().Get(ctx, req.NamespacedName, hpod); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !r.Translator.IsOwned(hpod) {
		return reconcile.Result{}, nil
	}
	ns, name, uid, ok := r.Translator.VirtualRef(hpod)
	if !ok {
		logr.FromContextOrDiscard(ctx).Info("Deleting host pod that records no virtual pod")
		return reconcile.Result{}, r.deleteHostPod(ctx, hpod, nil)
	}
	vpod := &corev1.Pod{}
	key := types.NamespacedName{Namespace: ns, Name: name}
	if err := r.Virtual.Get(ctx, key, vpod); err == nil && vpod.UID == uid {
		return reconcile.Result{}, nil
	}
	// The cache says gone or replaced: confirm with the virtual API server before deleting.
	err := r.VirtualReader.Get(ctx, key, vpod)
	switch {
	case err == nil && vpod.UID == uid:
		return reconcile.Result{}, nil
	case err != nil && !apierrors.IsNotFound(err):
		return reconcile.Result{}, err
	}
	logr.FromContextOrDiscard(ctx).V(1).Info("Deleting host pod whose virtual pod is gone", "virtualNamespace", ns, "virtualPod", name)
	return reconcile.Result{}, r.deleteHostPod(ctx, hpod, nil)
}

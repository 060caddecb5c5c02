// Package events shows the tenant the events the host's components (scheduler, kubelet,
// volume provisioners, controllers) record about its objects' host copies: each host
// Event about one of the tenant's host objects becomes one virtual Event about the virtual
// object, with host names, addresses and UIDs rewritten or hidden (Rewriter). Events
// about anything else in the host namespace are never shown.
//
// Host Events are read through core/v1, not events.k8s.io/v1: both are views of the same
// objects, core/v1 carries every field either API writes (count and first/last timestamps
// of the kubelet's recorder, eventTime and series of the scheduler's), and its
// involvedObject field selector is what kubectl describe uses in the virtual cluster.
package events

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/flowcontrol"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kplex-dev/kplex/internal/translate"
)

// FieldOwner owns the virtual events (server-side apply).
const FieldOwner = "kplex-syncer"

// Reconciler keeps one virtual event per host event about one of the tenant's objects
// (requests are host event names). Virtual events are created and updated, never
// deleted: they expire by the virtual API server's event TTL, as the host's do.
type Reconciler struct {
	Virtual    client.Client // the manager's (cached) client
	Host       cluster.Cluster
	Translator *translate.Translator
	// Workers reconcile at once; events have their own queue, so a burst never delays
	// the pods' queue.
	Workers int
	// WriteQPS and WriteBurst bound the virtual writes of events within the virtual API
	// server's shared client limit, so a burst of events leaves room for everything else.
	WriteQPS   float32
	WriteBurst int
	Log        logr.Logger

	events  cache.Cache
	limiter flowcontrol.RateLimiter
}

// SetupWithManager adds the host event cache and the controller.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	c, err := newHostCache(r.Host, mgr.GetScheme(), r.Translator.Tenant().HostNamespace)
	if err != nil {
		return fmt.Errorf("host event cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return err
	}
	r.events = c
	r.limiter = flowcontrol.NewTokenBucketRateLimiter(r.WriteQPS, max(r.WriteBurst, 1))
	return builder.TypedControllerManagedBy[reconcile.Request](mgr).
		Named("events").
		WatchesRawSource(source.Kind(c, &corev1.Event{}, &handler.TypedEnqueueRequestForObject[*corev1.Event]{}, shown())).
		WithOptions(controller.TypedOptions[reconcile.Request]{MaxConcurrentReconciles: max(r.Workers, 1)}).
		WithLogConstructor(func(req *reconcile.Request) logr.Logger {
			if req == nil {
				return r.Log
			}
			return r.Log.WithValues("hostEvent", req.Name)
		}).
		Complete(r)
}

// shown lets through new and changed host events about kinds that are synced; deletions
// change nothing (the virtual event expires on its own).
func shown() predicate.TypedPredicate[*corev1.Event] {
	synced := func(e *corev1.Event) bool { return newObject(involvedKind(e.InvolvedObject)) != nil }
	return predicate.TypedFuncs[*corev1.Event]{
		CreateFunc: func(e event.TypedCreateEvent[*corev1.Event]) bool { return synced(e.Object) },
		UpdateFunc: func(e event.TypedUpdateEvent[*corev1.Event]) bool {
			return synced(e.ObjectNew) && e.ObjectNew.ResourceVersion != e.ObjectOld.ResourceVersion
		},
		DeleteFunc:  func(event.TypedDeleteEvent[*corev1.Event]) bool { return false },
		GenericFunc: func(event.TypedGenericEvent[*corev1.Event]) bool { return false },
	}
}

// Reconcile creates or updates the virtual event of one host event.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ev := &corev1.Event{}
	if err := r.events.Get(ctx, req.NamespacedName, ev); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	host, virtual, why, err := r.about(ctx, ev)
	if err != nil || why != "" {
		if why != "" {
			logr.FromContextOrDiscard(ctx).V(2).Info("Host event not shown", "reason", why)
		}
		return reconcile.Result{}, err
	}
	want, ok := Virtual(ev, host, virtual, Rewriter{
		HostNamespace: host.GetNamespace(), VirtualNamespace: virtual.GetNamespace(),
		HostUID: host.GetUID(), VirtualUID: virtual.GetUID(),
		Addresses: addresses(host), Names: r.names(ctx, host, virtual),
	})
	if !ok {
		logr.FromContextOrDiscard(ctx).V(2).Info("Host event not shown", "reason", "about a container the tenant did not define")
		return reconcile.Result{}, nil
	}
	if err := r.limiter.Wait(ctx); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.Virtual.Apply(ctx, want, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		if apierrors.IsNotFound(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return reconcile.Result{}, nil // the virtual namespace is gone or going
		}
		return reconcile.Result{}, fmt.Errorf("apply virtual event %s/%s: %w", *want.Namespace, *want.Name, err)
	}
	return reconcile.Result{}, nil
}

// about returns the host object ev is about and the virtual object it copies, or why the
// event is not shown: the object is not one of the tenant's copies, the event is about an
// earlier host object of that name, or the copy records a virtual object that no longer
// exists with that UID (deleted, or its name reused).
func (r *Reconciler) about(ctx context.Context, ev *corev1.Event) (host, virtual client.Object, why string, err error) {
	ref := ev.InvolvedObject
	gk := involvedKind(ref)
	host = newObject(gk)
	switch {
	case host == nil:
		return nil, nil, "kind not synced", nil
	case ref.Namespace != r.Translator.Tenant().HostNamespace:
		return nil, nil, "object in another namespace", nil
	case ref.UID == "":
		return nil, nil, "no object UID: which object it was about is unknown", nil
	}
	key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
	if err := r.Host.GetClient().Get(ctx, key, host); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, nil, "", fmt.Errorf("get host %s %s: %w", gk.Kind, ref.Name, err)
		}
		// The cache holds only the tenant's objects, and may not have seen a new one yet.
		if err := r.Host.GetAPIReader().Get(ctx, key, host); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil, "host object gone", nil
			}
			return nil, nil, "", fmt.Errorf("get host %s %s: %w", gk.Kind, ref.Name, err)
		}
	}
	if host.GetUID() != ref.UID {
		return nil, nil, "about an earlier host object of that name", nil
	}
	vns, vname, vuid, ok := r.Translator.VirtualRef(host)
	if !ok {
		return nil, nil, "host object not managed by this tenant's syncer", nil
	}
	virtual = newObject(gk)
	if err := r.Virtual.Get(ctx, types.NamespacedName{Namespace: vns, Name: vname}, virtual); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, "virtual object gone", nil
		}
		return nil, nil, "", fmt.Errorf("get virtual %s %s/%s: %w", gk.Kind, vns, vname, err)
	}
	if virtual.GetUID() != vuid {
		return nil, nil, "virtual object replaced under the same name", nil
	}
	return host, virtual, "", nil
}

// names resolves host names of the tenant's objects in messages: the event's own object
// (perhaps read live, not yet cached), then the host cache, which holds only this
// tenant's objects.
func (r *Reconciler) names(ctx context.Context, host, virtual client.Object) Names {
	ns := r.Translator.Tenant().HostNamespace
	return func(hostName string) (string, string, bool) {
		if hostName == host.GetName() {
			return virtual.GetNamespace(), virtual.GetName(), true
		}
		for _, gk := range namedKinds() {
			o := newObject(gk)
			if err := r.Host.GetClient().Get(ctx, types.NamespacedName{Namespace: ns, Name: hostName}, o); err != nil {
				continue
			}
			if vns, vname, _, ok := r.Translator.VirtualRef(o); ok {
				return vns, vname, true
			}
		}
		return "", "", false
	}
}

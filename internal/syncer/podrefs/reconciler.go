// Package podrefs copies into the host namespace the virtual objects that synced pods
// reference by name (ConfigMaps, Secrets), keeps the copies up to date, and deletes a copy
// once no virtual pod uses it or its virtual original is gone. One generic reconciler
// serves every such kind; a Kind says what differs between them.
package podrefs

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kplex-dev/kplex/internal/syncer/hostwatch"
	"github.com/kplex-dev/kplex/internal/translate"
)

// Kind describes one referenced kind.
type Kind[T client.Object] struct {
	Name string                     // plural, lower case: "configmaps"
	New  func() T                   // an empty object
	Refs func(*corev1.Pod) []string // names a pod references in its own namespace
	// Copy builds the host copy of a virtual object; meta is the translated metadata.
	Copy func(virtual T, meta metav1.ObjectMeta) T
	// Same reports whether the host copy already matches want, metadata included.
	Same func(want, have T) bool
	// Replace reports whether have cannot be updated to want and must be recreated.
	Replace func(want, have T) bool
	// Foreign rejects a host object at the copy's name that is not a copy (nil: none).
	Foreign func(have T) error
}

// Reconciler syncs one virtual object of a Kind (requests are virtual namespace/name).
type Reconciler[T client.Object] struct {
	Kind       Kind[T]
	Virtual    client.Client
	Host       cluster.Cluster
	Translator *translate.Translator
	Log        logr.Logger
}

func (r *Reconciler[T]) podIndex() string { return "kplex.dev/" + r.Kind.Name }

// SetupWithManager registers the syncer: virtual objects, the virtual pods that use
// them, and the host copies.
func (r *Reconciler[T]) SetupWithManager(ctx context.Context, mgr manager.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, r.podIndex(), func(o client.Object) []string {
		return r.Kind.Refs(o.(*corev1.Pod))
	})
	if err != nil {
		return err
	}
	return builder.ControllerManagedBy(mgr).
		Named(r.Kind.Name).
		For(r.Kind.New()).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			var out []reconcile.Request
			for _, n := range r.Kind.Refs(o.(*corev1.Pod)) {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: n}})
			}
			return out
		})).
		WatchesRawSource(hostwatch.Copies(r.Host, r.Kind.New(), r.Translator)).
		WithLogConstructor(hostwatch.Logger(r.Log, "name")).
		Complete(r)
}

// Reconcile creates, updates or deletes the host copy of one virtual object.
func (r *Reconciler[T]) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	hc := r.Host.GetClient()
	virtual, err := r.get(ctx, r.Virtual, req.NamespacedName)
	if err != nil {
		return reconcile.Result{}, err
	}
	hostKey := types.NamespacedName{Namespace: r.Translator.Tenant().HostNamespace, Name: r.Translator.HostName(req.Namespace, req.Name)}
	have, err := r.get(ctx, hc, hostKey)
	if err != nil {
		return reconcile.Result{}, err
	}
	if have != nil {
		if r.Kind.Foreign != nil {
			if err := r.Kind.Foreign(*have); err != nil {
				return reconcile.Result{}, err
			}
		}
		if ns, name, _, ok := r.Translator.VirtualRef(*have); !ok || ns != req.Namespace || name != req.Name {
			return reconcile.Result{}, fmt.Errorf("host %s %s does not record virtual %s/%s: refusing to touch it", r.Kind.Name, (*have).GetName(), req.Namespace, req.Name)
		}
	}
	used := false
	if virtual != nil {
		var users corev1.PodList
		if err := r.Virtual.List(ctx, &users, client.InNamespace(req.Namespace), client.MatchingFields{r.podIndex(): req.Name}); err != nil {
			return reconcile.Result{}, err
		}
		used = len(users.Items) > 0
	}
	if !used {
		if have == nil {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, r.delete(ctx, *have)
	}
	want := r.Kind.Copy(*virtual, r.Translator.HostMeta(*virtual))
	switch {
	case have == nil:
		if err := hc.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, fmt.Errorf("create host %s %s: %w", r.Kind.Name, want.GetName(), err)
		}
	case r.Kind.Same(want, *have):
	case r.Kind.Replace(want, *have):
		return reconcile.Result{}, r.delete(ctx, *have) // recreated when its deletion is seen
	default:
		want.SetResourceVersion((*have).GetResourceVersion())
		if err := hc.Update(ctx, want); err != nil {
			return reconcile.Result{}, fmt.Errorf("update host %s %s: %w", r.Kind.Name, want.GetName(), err)
		}
	}
	return reconcile.Result{}, nil
}

// get returns the object, or nil when it does not exist.
func (r *Reconciler[T]) get(ctx context.Context, c client.Reader, key types.NamespacedName) (*T, error) {
	o := r.Kind.New()
	if err := c.Get(ctx, key, o); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &o, nil
}

func (r *Reconciler[T]) delete(ctx context.Context, h T) error {
	uid := h.GetUID()
	err := r.Host.GetClient().Delete(ctx, h, client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete host %s %s: %w", r.Kind.Name, h.GetName(), err)
	}
	return nil
}

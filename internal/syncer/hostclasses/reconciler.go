// Package hostclasses shows the host's StorageClasses and IngressClasses in the virtual
// cluster, read-only: a tenant's claims and ingresses name host classes, and the virtual
// API server's default-class admission needs to know the host's default. Only what a tenant
// needs to choose a class is copied (name, provisioner or controller, reclaim and binding
// policy, expansion, the default-class annotation); parameters, mount options and
// topologies are the host's (they can name secrets, servers and zones).
//
// A host class's name is reserved in the virtual cluster: the copy is put back when the
// tenant edits or deletes it, and replaces a class of that name the tenant made itself.
// Classes the tenant creates under other names are left alone and never copied to the
// host (a claim naming one stays Pending on the host).
package hostclasses

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kplex-dev/kplex/internal/syncer/copier"
)

// LabelFromHost marks the virtual copies of host classes.
const LabelFromHost = "kplex.dev/from-host"

// Kind describes one class kind.
type Kind[T client.Object] struct {
	Name string // plural, lower case
	New  func() T
	// Project is the virtual copy of a host class (LabelFromHost added by the reconciler).
	Project func(host T) T
	// Same reports whether the virtual object already is want.
	Same func(want, have T) bool
	// Replace reports whether have differs from want in an immutable field.
	Replace func(want, have T) bool
	// Merge returns have with want's mutable fields.
	Merge func(want, have T) T
}

// Reconciler syncs one class name (requests carry only a name).
type Reconciler[T client.Object] struct {
	Kind    Kind[T]
	Virtual client.Client
	Host    cluster.Cluster
	Log     logr.Logger
}

// SetupWithManager registers the syncer: virtual classes and host classes, both keyed by name.
func (r *Reconciler[T]) SetupWithManager(mgr manager.Manager) error {
	return builder.ControllerManagedBy(mgr).
		Named(r.Kind.Name).
		For(r.Kind.New()).
		WatchesRawSource(source.Kind(r.Host.GetCache(), r.Kind.New(), &handler.TypedEnqueueRequestForObject[T]{})).
		WithLogConstructor(func(req *reconcile.Request) logr.Logger {
			if req == nil {
				return r.Log
			}
			return r.Log.WithValues("name", req.Name)
		}).
		Complete(r)
}

// Reconcile makes the virtual class of this name the copy of the host's, or removes a
// copy whose host class is gone.
func (r *Reconciler[T]) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := types.NamespacedName{Name: req.Name}
	host, err := r.get(ctx, r.Host.GetClient(), key)
	if err != nil {
		return reconcile.Result{}, err
	}
	have, err := r.get(ctx, r.Virtual, key)
	if err != nil {
		return reconcile.Result{}, err
	}
	if host == nil {
		if have != nil && (*have).GetLabels()[LabelFromHost] == "true" {
			return reconcile.Result{}, r.delete(ctx, *have)
		}
		return reconcile.Result{}, nil // none, or the tenant's own
	}
	want := r.Kind.Project(*host)
	want.SetLabels(map[string]string{LabelFromHost: "true"})
	switch {
	case have == nil:
		if err := r.Virtual.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, fmt.Errorf("create virtual %s %s: %w", r.Kind.Name, req.Name, err)
		}
	case (*have).GetDeletionTimestamp() != nil:
		// Created again once its deletion is seen.
	case r.Kind.Replace(want, *have):
		return reconcile.Result{}, r.delete(ctx, *have)
	case !r.Kind.Same(want, *have):
		upd := r.Kind.Merge(want, *have)
		if err := r.Virtual.Update(ctx, upd); err != nil {
			return reconcile.Result{}, fmt.Errorf("update virtual %s %s: %w", r.Kind.Name, req.Name, err)
		}
	}
	return reconcile.Result{}, nil
}

func (r *Reconciler[T]) get(ctx context.Context, c client.Reader, key types.NamespacedName) (*T, error) {
	return copier.Get(ctx, c, key, r.Kind.New())
}

func (r *Reconciler[T]) delete(ctx context.Context, v T) error {
	return copier.DeleteExact(ctx, r.Virtual, v, "virtual "+r.Kind.Name)
}

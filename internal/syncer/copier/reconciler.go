// Package copier is the one reconciler behind every resource that is copied from the
// virtual cluster into the host namespace as it is, once translated: it creates the host
// copy, keeps it up to date, copies status back, and deletes the copy once its virtual
// original is gone (or, for kinds that only exist for pods' sake, once nothing uses it).
// A Kind says what differs between resources; each resource's package defines its Kind.
package copier

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/kplex-dev/kplex/internal/syncer/hostwatch"
	"github.com/kplex-dev/kplex/internal/translate"
)

// Kind describes one copied kind.
type Kind[T client.Object] struct {
	Name string   // plural, lower case: "configmaps"
	New  func() T // an empty object
	// UsedBy lists the virtual objects that reference this kind by name in their own
	// namespace. Empty: every virtual object is copied; otherwise an object is copied
	// only while at least one of them uses it.
	UsedBy []Users
	// Triggers are other virtual objects whose changes may change host copies: each maps
	// to the requests to reconcile.
	Triggers []Trigger
	// Copy builds the host copy of a virtual object; meta is the translated metadata. A
	// *RefusedError means the object must not be copied (see Reconciler.Reconcile).
	Copy func(ctx context.Context, virtual T, meta metav1.ObjectMeta) (T, error)
	// Same reports whether the host copy already matches want, metadata included.
	Same func(want, have T) bool
	// Replace reports whether have cannot be updated to want and must be recreated (nil:
	// never).
	Replace func(want, have T) bool
	// Merge returns the object to update have with, for kinds whose host copy holds
	// fields the host sets (nil: want itself).
	Merge func(want, have T) T
	// Status copies the host copy's status into virtual (a copy) and reports whether it
	// changed (nil: no status flows back).
	Status func(virtual, host T) bool
	// Foreign rejects a host object at the copy's name that is not a copy (nil: none).
	Foreign func(have T) error
}

// Users are virtual objects of one kind that reference copied objects by name.
type Users struct {
	New     func() client.Object
	NewList func() client.ObjectList
	Refs    func(client.Object) []string // names referenced in the user's own namespace
}

// Trigger is a virtual kind whose objects feed into other kinds' host copies.
type Trigger struct {
	Object client.Object
	Map    handler.MapFunc
}

// PodUsers are virtual pods, referencing objects through refs.
func PodUsers(refs func(*corev1.Pod) []string) Users {
	return Users{
		New:     func() client.Object { return &corev1.Pod{} },
		NewList: func() client.ObjectList { return &corev1.PodList{} },
		Refs:    func(o client.Object) []string { return refs(o.(*corev1.Pod)) },
	}
}

// RefusedError is a virtual object kplex will not copy; Reason and the message are
// recorded as a Warning event on it.
type RefusedError struct {
	Reason  string // CamelCase, for the event
	Message string // what is wrong and what to do
}

func (e *RefusedError) Error() string { return e.Message }

// Refuse returns a *RefusedError.
func Refuse(reason, format string, args ...any) error {
	return &RefusedError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Reconciler syncs one virtual object of a Kind (requests are virtual namespace/name).
type Reconciler[T client.Object] struct {
	Kind    Kind[T]
	Virtual client.Client
	// VirtualReader is uncached: a host copy is deleted only once the virtual object's
	// absence is confirmed (nil: the cache is trusted).
	VirtualReader client.Reader
	Host          cluster.Cluster
	Translator    *translate.Translator
	// Events records refusals on the virtual objects (nil: not recorded).
	Events recorder.EventRecorder
	Log    logr.Logger
}

func (r *Reconciler[T]) index() string { return "kplex.dev/" + r.Kind.Name }

// SetupWithManager registers the syncer: virtual objects, the virtual objects that use
// them, and the host copies.
func (r *Reconciler[T]) SetupWithManager(ctx context.Context, mgr manager.Manager) error {
	b := builder.ControllerManagedBy(mgr).
		Named(r.Kind.Name).
		For(r.Kind.New())
	for _, u := range r.Kind.UsedBy {
		if err := mgr.GetFieldIndexer().IndexField(ctx, u.New(), r.index(), u.Refs); err != nil {
			return err
		}
		b = b.Watches(u.New(), handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			var out []reconcile.Request
			for _, n := range u.Refs(o) {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: n}})
			}
			return out
		}))
	}
	for _, tr := range r.Kind.Triggers {
		b = b.Watches(tr.Object, handler.EnqueueRequestsFromMapFunc(tr.Map))
	}
	return b.WatchesRawSource(hostwatch.Copies(r.Host, r.Kind.New(), r.Translator)).
		WithLogConstructor(hostwatch.Logger(r.Log, "name")).
		Complete(r)
}

// Reconcile creates, updates or deletes the host copy of one virtual object and copies
// its status back. A host copy recording another UID (a reused name) is deleted, then
// created again from the current object. A refused object is not copied: a Warning
// event says why, and it is not retried until it changes.
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
	wanted, err := r.wanted(ctx, req, virtual)
	if err != nil {
		return reconcile.Result{}, err
	}
	if have != nil {
		if r.Kind.Foreign != nil {
			if err := r.Kind.Foreign(*have); err != nil {
				return reconcile.Result{}, err
			}
		}
		ns, name, uid, ok := r.Translator.VirtualRef(*have)
		if !ok || ns != req.Namespace || name != req.Name {
			return reconcile.Result{}, fmt.Errorf("host %s %s does not record virtual %s/%s: refusing to touch it", r.Kind.Name, (*have).GetName(), req.Namespace, req.Name)
		}
		if !wanted || uid != (*virtual).GetUID() {
			if virtual == nil && r.VirtualReader != nil {
				// The cache may lag behind: confirm with the API server before deleting.
				live, err := r.get(ctx, r.VirtualReader, req.NamespacedName)
				if err != nil {
					return reconcile.Result{}, err
				}
				if live != nil && (*live).GetUID() == uid {
					return reconcile.Result{}, nil
				}
			}
			return reconcile.Result{}, r.delete(ctx, *have) // a new copy follows its deletion event
		}
	}
	if !wanted {
		return reconcile.Result{}, nil
	}
	want, err := r.Kind.Copy(ctx, *virtual, r.Translator.HostMeta(*virtual))
	if refused := (*RefusedError)(nil); errors.As(err, &refused) {
		if r.Events != nil {
			r.Events.Eventf(*virtual, nil, corev1.EventTypeWarning, refused.Reason, "Sync", "%s", refused.Message)
		}
		return reconcile.Result{}, reconcile.TerminalError(err)
	} else if err != nil {
		return reconcile.Result{}, err
	}
	switch {
	case have == nil:
		if err := hc.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, fmt.Errorf("create host %s %s: %w", r.Kind.Name, want.GetName(), err)
		}
		return reconcile.Result{}, nil
	case r.Kind.Same(want, *have):
	case r.Kind.Replace != nil && r.Kind.Replace(want, *have):
		return reconcile.Result{}, r.delete(ctx, *have) // recreated when its deletion is seen
	default:
		upd := want
		if r.Kind.Merge != nil {
			upd = r.Kind.Merge(want, *have)
		}
		upd.SetResourceVersion((*have).GetResourceVersion())
		if err := hc.Update(ctx, upd); err != nil {
			return reconcile.Result{}, fmt.Errorf("update host %s %s: %w", r.Kind.Name, want.GetName(), err)
		}
	}
	return reconcile.Result{}, r.statusBack(ctx, *virtual, *have)
}

// wanted reports whether virtual (nil: absent) should have a host copy.
func (r *Reconciler[T]) wanted(ctx context.Context, req reconcile.Request, virtual *T) (bool, error) {
	if virtual == nil || (*virtual).GetDeletionTimestamp() != nil {
		return false, nil
	}
	for _, u := range r.Kind.UsedBy {
		list := u.NewList()
		if err := r.Virtual.List(ctx, list, client.InNamespace(req.Namespace), client.MatchingFields{r.index(): req.Name}); err != nil {
			return false, err
		}
		if meta.LenList(list) > 0 {
			return true, nil
		}
	}
	return len(r.Kind.UsedBy) == 0, nil
}

func (r *Reconciler[T]) statusBack(ctx context.Context, virtual, host T) error {
	if r.Kind.Status == nil {
		return nil
	}
	upd := virtual.DeepCopyObject().(T)
	if !r.Kind.Status(upd, host) {
		return nil
	}
	// A merge patch: the fields the host reports are replaced whatever the cache's version.
	if err := r.Virtual.Status().Patch(ctx, upd, client.MergeFrom(virtual)); err != nil {
		return fmt.Errorf("update status of virtual %s %s/%s: %w", r.Kind.Name, virtual.GetNamespace(), virtual.GetName(), err)
	}
	return nil
}

func (r *Reconciler[T]) get(ctx context.Context, c client.Reader, key types.NamespacedName) (*T, error) {
	return Get(ctx, c, key, r.Kind.New())
}

func (r *Reconciler[T]) delete(ctx context.Context, h T) error {
	return DeleteExact(ctx, r.Host.GetClient(), h, "host "+r.Kind.Name)
}

// Get reads key into o; nil when it does not exist.
func Get[T client.Object](ctx context.Context, c client.Reader, key types.NamespacedName, o T) (*T, error) {
	if err := c.Get(ctx, key, o); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &o, nil
}

// DeleteExact deletes o and not a newer object of the same name (a UID precondition);
// what names it in errors.
func DeleteExact(ctx context.Context, c client.Writer, o client.Object, what string) error {
	uid := o.GetUID()
	err := c.Delete(ctx, o, client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete %s %s: %w", what, o.GetName(), err)
	}
	return nil
}

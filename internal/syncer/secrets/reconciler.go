// Package secrets copies the virtual Secrets that synced pods use into the host
// namespace, keeps them up to date and deletes the copies nothing uses any more.
package secrets

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kplex-dev/kplex/internal/syncer/pods"
	"github.com/kplex-dev/kplex/internal/translate"
)

// podIndex indexes virtual pods by the Secrets they use.
const podIndex = "kplex.dev/secrets"

// Reconciler syncs one virtual Secret (requests are virtual namespace/name).
type Reconciler struct {
	Virtual    client.Client
	Host       cluster.Cluster
	Translator *translate.Translator
	Log        logr.Logger
}

// SetupWithManager registers the Secret syncer.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr manager.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, podIndex, func(o client.Object) []string {
		return pods.SecretRefs(o.(*corev1.Pod))
	})
	if err != nil {
		return err
	}
	return builder.ControllerManagedBy(mgr).
		Named("secrets").
		For(&corev1.Secret{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			var out []reconcile.Request
			for _, n := range pods.SecretRefs(o.(*corev1.Pod)) {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: n}})
			}
			return out
		})).
		WatchesRawSource(source.Kind(r.Host.GetCache(), &corev1.Secret{}, handler.TypedEnqueueRequestsFromMapFunc(func(_ context.Context, s *corev1.Secret) []reconcile.Request {
			ns, name, _, ok := r.Translator.VirtualRef(s)
			if !ok {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
		}))).
		WithLogConstructor(func(req *reconcile.Request) logr.Logger {
			if req == nil {
				return r.Log
			}
			return r.Log.WithValues("namespace", req.Namespace, "secret", req.Name)
		}).
		Complete(r)
}

// Reconcile creates, updates or deletes the host copy of one virtual Secret.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	hc := r.Host.GetClient()
	vs := &corev1.Secret{}
	if err := r.Virtual.Get(ctx, req.NamespacedName, vs); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		vs = nil
	}
	hostKey := types.NamespacedName{Namespace: r.Translator.Tenant().HostNamespace, Name: r.Translator.HostName(req.Namespace, req.Name)}
	hs := &corev1.Secret{}
	if err := hc.Get(ctx, hostKey, hs); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		hs = nil
	}
	if hs != nil && hs.Labels[pods.LabelTokenFor] != "" {
		return reconcile.Result{}, fmt.Errorf("host secret %s is a pod token, not a copy of virtual secret %s/%s", hs.Name, req.Namespace, req.Name)
	}
	if hs != nil {
		if ns, name, _, ok := r.Translator.VirtualRef(hs); !ok || ns != req.Namespace || name != req.Name {
			return reconcile.Result{}, fmt.Errorf("host secret %s does not record virtual secret %s/%s: refusing to touch it", hs.Name, req.Namespace, req.Name)
		}
	}
	used := false
	if vs != nil {
		var users corev1.PodList
		if err := r.Virtual.List(ctx, &users, client.InNamespace(req.Namespace), client.MatchingFields{podIndex: req.Name}); err != nil {
			return reconcile.Result{}, err
		}
		used = len(users.Items) > 0
	}
	if !used {
		if hs == nil {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, r.delete(ctx, hs)
	}
	want := &corev1.Secret{ObjectMeta: r.Translator.HostMeta(vs), Data: vs.Data, Type: hostType(vs.Type), Immutable: vs.Immutable}
	if hs == nil {
		if err := hc.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, fmt.Errorf("create host secret %s: %w", want.Name, err)
		}
		return reconcile.Result{}, nil
	}
	same := equality.Semantic.DeepEqual(want.Data, hs.Data) && want.Type == hs.Type &&
		equality.Semantic.DeepEqual(want.Labels, hs.Labels) && equality.Semantic.DeepEqual(want.Annotations, hs.Annotations) &&
		equality.Semantic.DeepEqual(want.Immutable, hs.Immutable)
	if same {
		return reconcile.Result{}, nil
	}
	if (hs.Immutable != nil && *hs.Immutable) || want.Type != hs.Type {
		return reconcile.Result{}, r.delete(ctx, hs) // recreated when its deletion is seen
	}
	want.ResourceVersion = hs.ResourceVersion
	if err := hc.Update(ctx, want); err != nil {
		return reconcile.Result{}, fmt.Errorf("update host secret %s: %w", want.Name, err)
	}
	return reconcile.Result{}, nil
}

func (r *Reconciler) delete(ctx context.Context, hs *corev1.Secret) error {
	err := r.Host.GetClient().Delete(ctx, hs, client.Preconditions{UID: &hs.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete host secret %s: %w", hs.Name, err)
	}
	return nil
}

// hostType is the type of a Secret's host copy. A virtual service-account token
// becomes Opaque: the host's token controller must not take it for one of its own.
func hostType(t corev1.SecretType) corev1.SecretType {
	if t == corev1.SecretTypeServiceAccountToken {
		return corev1.SecretTypeOpaque
	}
	return t
}

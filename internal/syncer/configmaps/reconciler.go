// Package configmaps copies the virtual ConfigMaps that synced pods use into the host
// namespace, keeps them up to date and deletes the copies nothing uses any more.
package configmaps

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

// podIndex indexes virtual pods by the ConfigMaps they use.
const podIndex = "kplex.dev/configmaps"

// Reconciler syncs one virtual ConfigMap (requests are virtual namespace/name).
type Reconciler struct {
	Virtual    client.Client
	Host       cluster.Cluster
	Translator *translate.Translator
	Log        logr.Logger
}

// SetupWithManager registers the ConfigMap syncer.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr manager.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, podIndex, func(o client.Object) []string {
		return pods.ConfigMapRefs(o.(*corev1.Pod))
	})
	if err != nil {
		return err
	}
	return builder.ControllerManagedBy(mgr).
		Named("configmaps").
		For(&corev1.ConfigMap{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			var out []reconcile.Request
			for _, n := range pods.ConfigMapRefs(o.(*corev1.Pod)) {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: n}})
			}
			return out
		})).
		WatchesRawSource(source.Kind(r.Host.GetCache(), &corev1.ConfigMap{}, handler.TypedEnqueueRequestsFromMapFunc(func(_ context.Context, cm *corev1.ConfigMap) []reconcile.Request {
			ns, name, _, ok := r.Translator.VirtualRef(cm)
			if !ok {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
		}))).
		WithLogConstructor(func(req *reconcile.Request) logr.Logger {
			if req == nil {
				return r.Log
			}
			return r.Log.WithValues("namespace", req.Namespace, "configMap", req.Name)
		}).
		Complete(r)
}

// Reconcile creates, updates or deletes the host copy of one virtual ConfigMap.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	hc := r.Host.GetClient()
	vcm := &corev1.ConfigMap{}
	if err := r.Virtual.Get(ctx, req.NamespacedName, vcm); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		vcm = nil
	}
	hostKey := types.NamespacedName{Namespace: r.Translator.Tenant().HostNamespace, Name: r.Translator.HostName(req.Namespace, req.Name)}
	hcm := &corev1.ConfigMap{}
	if err := hc.Get(ctx, hostKey, hcm); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		hcm = nil
	}
	if hcm != nil {
		if ns, name, _, ok := r.Translator.VirtualRef(hcm); !ok || ns != req.Namespace || name != req.Name {
			return reconcile.Result{}, fmt.Errorf("host configmap %s does not record virtual configmap %s/%s: refusing to touch it", hcm.Name, req.Namespace, req.Name)
		}
	}
	used := false
	if vcm != nil {
		var users corev1.PodList
		if err := r.Virtual.List(ctx, &users, client.InNamespace(req.Namespace), client.MatchingFields{podIndex: req.Name}); err != nil {
			return reconcile.Result{}, err
		}
		used = len(users.Items) > 0
	}
	if !used {
		if hcm == nil {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, r.delete(ctx, hcm)
	}
	want := &corev1.ConfigMap{ObjectMeta: r.Translator.HostMeta(vcm), Data: vcm.Data, BinaryData: vcm.BinaryData, Immutable: vcm.Immutable}
	if hcm == nil {
		if err := hc.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, fmt.Errorf("create host configmap %s: %w", want.Name, err)
		}
		return reconcile.Result{}, nil
	}
	same := equality.Semantic.DeepEqual(want.Data, hcm.Data) && equality.Semantic.DeepEqual(want.BinaryData, hcm.BinaryData) &&
		equality.Semantic.DeepEqual(want.Labels, hcm.Labels) && equality.Semantic.DeepEqual(want.Annotations, hcm.Annotations) &&
		equality.Semantic.DeepEqual(want.Immutable, hcm.Immutable)
	if same {
		return reconcile.Result{}, nil
	}
	if hcm.Immutable != nil && *hcm.Immutable {
		return reconcile.Result{}, r.delete(ctx, hcm) // recreated when its deletion is seen
	}
	want.ResourceVersion = hcm.ResourceVersion
	if err := hc.Update(ctx, want); err != nil {
		return reconcile.Result{}, fmt.Errorf("update host configmap %s: %w", want.Name, err)
	}
	return reconcile.Result{}, nil
}

func (r *Reconciler) delete(ctx context.Context, hcm *corev1.ConfigMap) error {
	err := r.Host.GetClient().Delete(ctx, hcm, client.Preconditions{UID: &hcm.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete host configmap %s: %w", hcm.Name, err)
	}
	return nil
}

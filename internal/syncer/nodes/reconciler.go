package nodes

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

	"github.com/kplex-dev/kplex/internal/translate"
)

// hostPodNodeIndex indexes the host pod cache by node name.
const hostPodNodeIndex = "kplex.dev/nodes.spec.nodeName"

// Reconciler keeps one virtual node (requests are node names; host and virtual nodes
// have the same name, the one the tenant's pods are bound to).
type Reconciler struct {
	Virtual    client.Client // the manager's (cached) client
	Host       cluster.Cluster
	Translator *translate.Translator
	Kubelet    Kubelet
	Log        logr.Logger
}

// SetupWithManager watches virtual nodes (a tenant's edit is put back), host nodes
// (status changes) and the tenant's host pods (which nodes are used).
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr manager.Manager) error {
	hostCache := r.Host.GetCache()
	err := hostCache.IndexField(ctx, &corev1.Pod{}, hostPodNodeIndex, func(o client.Object) []string {
		if n := o.(*corev1.Pod).Spec.NodeName; n != "" {
			return []string{n}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index host pods by node: %w", err)
	}
	podToNode := func(_ context.Context, p *corev1.Pod) []reconcile.Request {
		if p.Spec.NodeName == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: p.Spec.NodeName}}}
	}
	return builder.ControllerManagedBy(mgr).
		Named("nodes").
		For(&corev1.Node{}).
		WatchesRawSource(source.Kind(hostCache, &corev1.Node{}, &handler.TypedEnqueueRequestForObject[*corev1.Node]{})).
		WatchesRawSource(source.Kind(hostCache, &corev1.Pod{}, handler.TypedEnqueueRequestsFromMapFunc(podToNode))).
		WithLogConstructor(func(req *reconcile.Request) logr.Logger {
			if req == nil {
				return r.Log
			}
			return r.Log.WithValues("node", req.Name)
		}).
		Complete(r)
}

// Reconcile creates, repairs or deletes the virtual node of one host node.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	tenant := r.Translator.Tenant().Name
	key := client.ObjectKey{Name: req.Name}
	vnode := &corev1.Node{}
	if err := r.Virtual.Get(ctx, key, vnode); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		vnode = nil
	}
	hnode := &corev1.Node{}
	if err := r.Host.GetClient().Get(ctx, key, hnode); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("get host node %s: %w", req.Name, err)
		}
		hnode = nil
	}
	used, err := r.used(ctx, req.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	if hnode == nil || !used {
		if vnode != nil && managed(tenant, vnode) {
			logr.FromContextOrDiscard(ctx).V(1).Info("Deleting virtual node: no pod of the tenant runs on it", "hostNodeExists", hnode != nil)
			return reconcile.Result{}, r.delete(ctx, vnode)
		}
		return reconcile.Result{}, nil
	}
	want := Virtual(tenant, hnode, r.Kubelet)
	if vnode == nil {
		if err := r.Virtual.Create(ctx, want); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return reconcile.Result{Requeue: true}, nil // the cache had not seen it yet
			}
			return reconcile.Result{}, fmt.Errorf("create virtual node %s: %w", want.Name, err)
		}
		logr.FromContextOrDiscard(ctx).V(1).Info("Created virtual node")
		return reconcile.Result{}, nil
	}
	return reconcile.Result{}, r.repair(ctx, vnode, want)
}

// used reports whether at least one of the tenant's host pods is bound to node.
func (r *Reconciler) used(ctx context.Context, node string) (bool, error) {
	var pods corev1.PodList
	if err := r.Host.GetClient().List(ctx, &pods, client.InNamespace(r.Translator.Tenant().HostNamespace),
		client.MatchingFields{hostPodNodeIndex: node}); err != nil {
		return false, fmt.Errorf("list host pods on node %s: %w", node, err)
	}
	for i := range pods.Items {
		if r.Translator.IsOwned(&pods.Items[i]) {
			return true, nil
		}
	}
	return false, nil
}

// repair puts back what the tenant (or anyone) changed: metadata and spec with an update,
// status through the status subresource. A change the API server refuses to undo (a
// field that can be set only once) deletes the node; its deletion event recreates it.
func (r *Reconciler) repair(ctx context.Context, have, want *corev1.Node) error {
	upd := have.DeepCopy()
	upd.Labels, upd.Annotations = want.Labels, nil
	upd.Finalizers, upd.OwnerReferences = nil, nil // a finalizer must not keep a deleted node
	upd.Spec = want.Spec
	if !equality.Semantic.DeepEqual(upd.ObjectMeta, have.ObjectMeta) || !equality.Semantic.DeepEqual(upd.Spec, have.Spec) {
		logr.FromContextOrDiscard(ctx).Info("Putting back virtual node metadata and spec")
		if err := r.Virtual.Update(ctx, upd); err != nil {
			if apierrors.IsInvalid(err) {
				return r.delete(ctx, have)
			}
			return fmt.Errorf("update virtual node %s: %w", have.Name, err)
		}
		if have.DeletionTimestamp != nil {
			return nil // its finalizers are gone: the deletion event recreates it
		}
	}
	if equality.Semantic.DeepEqual(upd.Status, want.Status) {
		return nil
	}
	upd.Status = want.Status
	if err := r.Virtual.Status().Update(ctx, upd); err != nil {
		return fmt.Errorf("update status of virtual node %s: %w", have.Name, err)
	}
	return nil
}

// delete deletes exactly n (not a newer node of the same name), and removes any
// finalizer the tenant put on it, which would keep it forever.
func (r *Reconciler) delete(ctx context.Context, n *corev1.Node) error {
	if len(n.Finalizers) > 0 {
		upd := n.DeepCopy()
		upd.Finalizers = nil
		if err := r.Virtual.Patch(ctx, upd, client.MergeFromWithOptions(n, client.MergeFromWithOptimisticLock{})); err != nil {
			return client.IgnoreNotFound(fmt.Errorf("remove finalizers of virtual node %s: %w", n.Name, err))
		}
	}
	if n.DeletionTimestamp != nil {
		return nil
	}
	err := r.Virtual.Delete(ctx, n, client.Preconditions{UID: &n.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete virtual node %s: %w", n.Name, err)
	}
	return nil
}

package operator

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/kplex-dev/kplex/api/v1alpha1"
)

// hostAPIService is the host's own API server Service, whose EndpointSlice of the same name
// lists where the API server listens.
func hostAPIService() types.NamespacedName {
	return types.NamespacedName{Namespace: corev1.NamespaceDefault, Name: "kubernetes"}
}

// hostAPI reads the host API server's endpoints (uncached: the cache holds only the
// operator's objects). No slice (a host without the endpoint reconciler) gives an empty
// HostAPI, and the control plane's policy falls back to hostAPIFallbackPorts.
func (r *Reconciler) hostAPI(ctx context.Context) (HostAPI, error) {
	s := &discoveryv1.EndpointSlice{}
	err := r.Reader.Get(ctx, hostAPIService(), s)
	if apierrors.IsNotFound(err) {
		return HostAPI{}, nil
	}
	if err != nil {
		return HostAPI{}, fmt.Errorf("get endpointslice %s of the host API server: %w", hostAPIService(), err)
	}
	return HostAPIFromSlice(s), nil
}

// applyIsolation applies the isolation objects and records the outcome in the
// IsolationReady condition. It runs right after the namespace is made, before anything can
// run there.
func (r *Reconciler) applyIsolation(ctx context.Context, vc *v1alpha1.VirtualCluster) error {
	err := r.tryIsolation(ctx, vc)
	if err != nil {
		r.set(vc, v1alpha1.ConditionIsolation, false, v1alpha1.ReasonIsolationFailed, err.Error())
		return err
	}
	return nil
}

func (r *Reconciler) tryIsolation(ctx context.Context, vc *v1alpha1.VirtualCluster) error {
	api, err := r.hostAPI(ctx)
	if err != nil {
		return err
	}
	objs, err := IsolationObjects(vc, api)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := r.apply(ctx, vc, o); err != nil {
			return err
		}
	}
	exposed, err := r.applyExposed(ctx, vc)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("NetworkPolicies %s, %s, %s, %s, %s, ResourceQuota %s and LimitRange %s are in place",
		PolicyDefaultDeny, PolicyTenantIngress, PolicyTenantEgress, PolicyTenantPods, PolicyControlPlane, QuotaName, LimitRangeName)
	if exposed != "" {
		msg += "; " + exposed
	}
	if len(api.Addresses) == 0 {
		msg += fmt.Sprintf("; the host API server's endpoints are unknown (no EndpointSlice %s), so the control plane may reach ports %v of any address", hostAPIService(), hostAPIFallbackPorts())
	}
	r.set(vc, v1alpha1.ConditionIsolation, true, v1alpha1.ReasonIsolated, msg)
	return nil
}

// quotaSpecChanged passes every event but ResourceQuota status updates, which come with
// every tenant pod created or deleted and change nothing the operator writes.
func quotaSpecChanged() predicate.Funcs {
	return updatesWhen(func(o, n *corev1.ResourceQuota) bool {
		return !equality.Semantic.DeepEqual(o.Spec, n.Spec) || !equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
			!equality.Semantic.DeepEqual(o.OwnerReferences, n.OwnerReferences)
	})
}

// updatesWhen passes creations, deletions, and the updates of T objects that changed says
// matter (updates of other types too, which it cannot judge).
func updatesWhen[T client.Object](changed func(old, new T) bool) predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(T)
		n, ok2 := e.ObjectNew.(T)
		if !ok1 || !ok2 {
			return true
		}
		return changed(o, n)
	}}
}

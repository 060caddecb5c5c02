// Package services copies a tenant's Services into the host namespace with the same
// cluster IPs, so that a pod reaches a service by the address the tenant sees. The
// tenant's service CIDR must therefore lie inside the host's service CIDR, and no other
// tenant nor host service may hold those addresses (see docs/syncer.md).
package services

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
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kplex-dev/kplex/internal/syncer/hostwatch"
	"github.com/kplex-dev/kplex/internal/translate"
)

// Reconciler syncs one virtual Service (requests are virtual namespace/name).
type Reconciler struct {
	Virtual       client.Client
	VirtualReader client.Reader
	Host          cluster.Cluster
	Translator    *translate.Translator
	Log           logr.Logger
}

// SetupWithManager registers the Service syncer.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	return builder.ControllerManagedBy(mgr).
		Named("services").
		For(&corev1.Service{}).
		WatchesRawSource(hostwatch.Copies(r.Host, &corev1.Service{}, r.Translator)).
		WithLogConstructor(hostwatch.Logger(r.Log, "service")).
		Complete(r)
}

// The kube-system/kube-dns Service kplexd shows the tenant at its DNS address.
const (
	DNSServiceName = "kube-dns"
	LabelComponent = "kplex.dev/component"
	ComponentDNS   = "dns"
)

// Skipped reports the virtual Services that are not copied: the API server's own
// "kubernetes" Service (pods reach the virtual API server through their environment) and
// kplexd's kube-dns Service (the host Service of the control plane serves that address).
func Skipped(s *corev1.Service) bool {
	return s.Namespace == "default" && s.Name == "kubernetes" ||
		s.Namespace == "kube-system" && s.Name == DNSServiceName && s.Labels[LabelComponent] == ComponentDNS
}

// HostService is the host copy of a virtual Service: same cluster IPs, ports and type,
// selector translated; node ports are left to the host to allocate.
func HostService(t *translate.Translator, v *corev1.Service) (*corev1.Service, error) {
	h := &corev1.Service{ObjectMeta: t.HostMeta(v)}
	s := v.Spec.DeepCopy()
	if s.Selector != nil {
		sel, err := t.HostSelectorMap(v.Namespace, s.Selector)
		if err != nil {
			return nil, fmt.Errorf("translate selector of service %s/%s: %w", v.Namespace, v.Name, err)
		}
		s.Selector = sel
	}
	for i := range s.Ports {
		s.Ports[i].NodePort = 0
	}
	s.HealthCheckNodePort = 0
	s.LoadBalancerIP = "" //nolint:staticcheck // deprecated, but copied through nowhere
	h.Spec = *s
	return h, nil
}

// Reconcile creates, updates or deletes the host copy of one virtual Service.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	hc := r.Host.GetClient()
	vs := &corev1.Service{}
	if err := r.Virtual.Get(ctx, req.NamespacedName, vs); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		vs = nil
	}
	if vs != nil && Skipped(vs) {
		return reconcile.Result{}, nil
	}
	hostKey := types.NamespacedName{Namespace: r.Translator.Tenant().HostNamespace, Name: r.Translator.HostName(req.Namespace, req.Name)}
	hs := &corev1.Service{}
	if err := hc.Get(ctx, hostKey, hs); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		hs = nil
	}
	if hs != nil {
		ns, name, uid, ok := r.Translator.VirtualRef(hs)
		if !ok || ns != req.Namespace || name != req.Name {
			return reconcile.Result{}, fmt.Errorf("host service %s does not record virtual service %s/%s: refusing to touch it", hs.Name, req.Namespace, req.Name)
		}
		if vs == nil || vs.DeletionTimestamp != nil || uid != vs.UID {
			if vs == nil {
				// Confirm with the API server before deleting: the cache may lag behind.
				live := &corev1.Service{}
				if err := r.VirtualReader.Get(ctx, req.NamespacedName, live); err == nil && string(live.UID) == string(uid) {
					return reconcile.Result{}, nil
				} else if err != nil && !apierrors.IsNotFound(err) {
					return reconcile.Result{}, err
				}
			}
			return reconcile.Result{}, r.delete(ctx, hs)
		}
	}
	if vs == nil || vs.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	want, err := HostService(r.Translator, vs)
	if err != nil {
		return reconcile.Result{}, err // the virtual API server validated it: cannot happen
	}
	if hs == nil {
		if err := hc.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, fmt.Errorf("create host service %s with cluster IP %s: %w", want.Name, want.Spec.ClusterIP, err)
		}
		return reconcile.Result{}, nil
	}
	if hs.Spec.ClusterIP != want.Spec.ClusterIP || hs.Spec.Type != want.Spec.Type && (hs.Spec.Type == corev1.ServiceTypeExternalName || want.Spec.Type == corev1.ServiceTypeExternalName) {
		return reconcile.Result{}, r.delete(ctx, hs) // immutable on the host: recreated
	}
	upd := hs.DeepCopy()
	upd.Labels, upd.Annotations = want.Labels, want.Annotations
	upd.Spec.Selector = want.Spec.Selector
	upd.Spec.Type = want.Spec.Type
	upd.Spec.SessionAffinity = want.Spec.SessionAffinity
	upd.Spec.SessionAffinityConfig = want.Spec.SessionAffinityConfig
	upd.Spec.PublishNotReadyAddresses = want.Spec.PublishNotReadyAddresses
	upd.Spec.ExternalName = want.Spec.ExternalName
	upd.Spec.InternalTrafficPolicy = want.Spec.InternalTrafficPolicy
	upd.Spec.ExternalTrafficPolicy = want.Spec.ExternalTrafficPolicy
	upd.Spec.TrafficDistribution = want.Spec.TrafficDistribution
	upd.Spec.Ports = mergePorts(want.Spec.Ports, hs.Spec.Ports)
	if equality.Semantic.DeepEqual(upd, hs) {
		return reconcile.Result{}, nil
	}
	if err := hc.Update(ctx, upd); err != nil {
		return reconcile.Result{}, fmt.Errorf("update host service %s: %w", hs.Name, err)
	}
	return reconcile.Result{}, nil
}

// mergePorts keeps the node ports the host allocated for ports that still exist.
func mergePorts(want, have []corev1.ServicePort) []corev1.ServicePort {
	out := append([]corev1.ServicePort(nil), want...)
	for i := range out {
		for _, h := range have {
			if h.Port == out[i].Port && h.Protocol == out[i].Protocol {
				out[i].NodePort = h.NodePort
			}
		}
	}
	return out
}

func (r *Reconciler) delete(ctx context.Context, hs *corev1.Service) error {
	err := r.Host.GetClient().Delete(ctx, hs, client.Preconditions{UID: &hs.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete host service %s: %w", hs.Name, err)
	}
	return nil
}

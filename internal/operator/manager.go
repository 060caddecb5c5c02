// Package operator is `kplexd operator`: it reconciles each VirtualCluster into its host
// namespace kplex-<name> (namespace, NetworkPolicies, ResourceQuota, LimitRange, RBAC,
// Services, a StatefulSet of one kplexd control plane) and reports the result in the
// VirtualCluster's status.
package operator

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/translate"
)

// Options configure the operator.
type Options struct {
	// DefaultImage is the kplexd image of control planes whose spec names none.
	DefaultImage string
	// LeaderElect makes only one replica act; LeaderElectionNamespace holds its Lease.
	LeaderElect             bool
	LeaderElectionNamespace string
	// HealthProbeAddress serves /healthz and /readyz ("0": off); MetricsAddress serves
	// /metrics ("0": off).
	HealthProbeAddress string
	MetricsAddress     string
	// GatewayDomain, unless empty, makes every control plane reachable through the
	// gateway as <name>.<GatewayDomain> (the gateway itself runs beside the operator).
	GatewayDomain string
	// NetworkGateProbe is the address the network gate of every tenant pod probes (an
	// IP:PORT tenant pods are denied): empty, the host API server's; NetworkGateOff, no
	// gate (docs/security.md).
	NetworkGateProbe string
	// IngressControllers: where the host's ingress controllers run (NewIngressControllers);
	// zero: none, and no tenant's Ingress opens anything.
	IngressControllers IngressControllers
}

// LeaderElectionID names the operator's Lease.
const LeaderElectionID = "kplex-operator"

// Scheme holds the types the operator reads and writes.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run runs the operator until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, opts Options, log logr.Logger) error {
	if opts.DefaultImage == "" {
		return fmt.Errorf("operator: no default kplexd image: set --default-image")
	}
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	owned := labels.SelectorFromSet(labels.Set{LabelManagedBy: managedBy})
	hasTenant, err := labels.NewRequirement(LabelTenant, selection.Exists, nil)
	if err != nil {
		return err
	}
	tenantServices := labels.NewSelector().Add(*hasTenant)
	syncedByTenant, err := labels.NewRequirement(translate.LabelManagedBy, selection.Exists, nil)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Logger:                        log,
		LeaderElection:                opts.LeaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       opts.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		HealthProbeBindAddress:        opts.HealthProbeAddress,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsAddress},
		// The operator watches only what it made (and every VirtualCluster): the host's
		// other namespaces, services and statefulsets stay out of its memory.
		Cache: cache.Options{
			DefaultLabelSelector: owned,
			// Services: the operator's and the syncers' copies (both carry kplex.dev/tenant),
			// whose types and selectors decide the exposure policies.
			ByObject: map[client.Object]cache.ByObject{
				&v1alpha1.VirtualCluster{}: {Label: labels.Everything()},
				&corev1.Service{}:          {Label: tenantServices},
				// Ingresses: the syncers' copies only, whose backends decide what the
				// ingress controllers may reach.
				&networkingv1.Ingress{}: {Label: labels.NewSelector().Add(*syncedByTenant)},
			},
		},
		// Secrets are read by name only (that is all its RBAC allows), never listed.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	})
	if err != nil {
		return fmt.Errorf("operator manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	r := &Reconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Scheme: scheme,
		ControlPlane:       ControlPlaneDefaults{Image: opts.DefaultImage, GatewayDomain: opts.GatewayDomain, NetworkGateProbe: opts.NetworkGateProbe},
		IngressControllers: opts.IngressControllers}
	err = ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.VirtualCluster{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.Service{}).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(tenantOfCopy), builder.WithPredicates(exposureChanged())).
		Watches(&networkingv1.Ingress{}, handler.EnqueueRequestsFromMapFunc(tenantOfCopy), builder.WithPredicates(ingressChanged())).
		Owns(&corev1.Namespace{}).
		Owns(&rbacv1.ClusterRoleBinding{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&corev1.LimitRange{}).
		Owns(&corev1.ResourceQuota{}, builder.WithPredicates(quotaSpecChanged())).
		Complete(r)
	if err != nil {
		return fmt.Errorf("operator controller: %w", err)
	}
	log.Info("Starting operator", "defaultImage", opts.DefaultImage, "leaderElect", opts.LeaderElect,
		"ingressControllerNamespaces", opts.IngressControllers.Namespaces)
	return mgr.Start(ctx)
}

package syncer

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/kplex-dev/kplex/internal/syncer/copier"
	hostevents "github.com/kplex-dev/kplex/internal/syncer/events"
	"github.com/kplex-dev/kplex/internal/syncer/hostclasses"
	"github.com/kplex-dev/kplex/internal/syncer/ingresses"
	"github.com/kplex-dev/kplex/internal/syncer/networkpolicies"
	"github.com/kplex-dev/kplex/internal/syncer/nodes"
	"github.com/kplex-dev/kplex/internal/syncer/persistentvolumeclaims"
	"github.com/kplex-dev/kplex/internal/syncer/pods"
	"github.com/kplex-dev/kplex/internal/syncer/services"
)

// podWorkers is how many virtual pods are synced at once. A new pod holds a worker for
// its host pod and token requests, a second or more when the API servers are loaded: at
// 50 pods/s, 64 workers were all busy and pods waited 1.5 s (p50) for one (measured
// with make bench); idle workers cost nothing.
const podWorkers = 256

// eventWorkers is how many host events are shown in the virtual cluster at once; event
// writes take at most 1/eventShare of the virtual API server's client limit, so pods
// syncing at 50/s (about 150 virtual requests per second) are never held back by events
// (measured with make bench: at a quarter, the host scheduler's events for every pod
// throttled the pods).
const (
	eventWorkers = 2
	eventShare   = 10
)

// register adds every resource syncer to the manager. This table is the whole list:
// a resource is synced if and only if it appears here.
func (s *Syncer) register() error {
	virtual, reader, host, tr := s.mgr.GetClient(), s.mgr.GetAPIReader(), s.host, s.tr
	log := s.opts.Log
	events := s.mgr.GetEventRecorder("kplex-syncer")
	apiHost, apiPort := s.opts.tenantEndpoint()
	table := []struct {
		name  string
		setup func() error
	}{
		{"pods", func() error {
			return (&pods.Reconciler{
				Virtual: virtual, VirtualReader: reader, Host: host, Translator: tr,
				CA: s.opts.VirtualCA, APIHost: apiHost, APIPort: apiPort, DNS: s.opts.DNS, Gate: s.opts.NetworkGate,
				TokenAudiences: s.opts.TokenAudiences, TokenLifetime: s.opts.TokenLifetime,
				Workers: podWorkers, Log: log.WithName("pods"),
			}).SetupWithManager(s.mgr)
		}},
		{"configmaps", func() error {
			return (&copier.Reconciler[*corev1.ConfigMap]{Kind: copier.ConfigMaps(), Virtual: virtual, Host: host, Translator: tr, Log: log.WithName("configmaps")}).
				SetupWithManager(context.Background(), s.mgr)
		}},
		{"secrets", func() error {
			users := []copier.Users{copier.PodUsers(pods.SecretRefs)}
			if s.opts.Ingresses {
				users = append(users, ingresses.SecretUsers())
			}
			return (&copier.Reconciler[*corev1.Secret]{Kind: copier.Secrets(users...), Virtual: virtual, Host: host, Translator: tr, Log: log.WithName("secrets")}).
				SetupWithManager(context.Background(), s.mgr)
		}},
		{"persistentvolumeclaims", func() error {
			return (&copier.Reconciler[*corev1.PersistentVolumeClaim]{Kind: persistentvolumeclaims.Kind(tr), Virtual: virtual, VirtualReader: reader,
				Host: host, Translator: tr, Events: events, Log: log.WithName("persistentvolumeclaims")}).SetupWithManager(context.Background(), s.mgr)
		}},
		{"networkpolicies", func() error {
			return (&copier.Reconciler[*networkingv1.NetworkPolicy]{Kind: networkpolicies.Kind(tr, virtual, networkpolicies.DeniedCIDRs()), Virtual: virtual,
				VirtualReader: reader, Host: host, Translator: tr, Log: log.WithName("networkpolicies")}).SetupWithManager(context.Background(), s.mgr)
		}},
		{"ingresses", func() error {
			if !s.opts.Ingresses {
				return s.mgr.Add(&ingresses.Withdraw{Virtual: reader, Host: host, Translator: tr, Events: events, Log: log.WithName("ingresses")})
			}
			return (&copier.Reconciler[*networkingv1.Ingress]{Kind: ingresses.Kind(tr), Virtual: virtual, VirtualReader: reader, Host: host,
				Translator: tr, Log: log.WithName("ingresses")}).SetupWithManager(context.Background(), s.mgr)
		}},
		{"storageclasses", func() error {
			return (&hostclasses.Reconciler[*storagev1.StorageClass]{Kind: hostclasses.StorageClasses(), Virtual: virtual, Host: host, Log: log.WithName("storageclasses")}).SetupWithManager(s.mgr)
		}},
		{"ingressclasses", func() error {
			return (&hostclasses.Reconciler[*networkingv1.IngressClass]{Kind: hostclasses.IngressClasses(), Virtual: virtual, Host: host, Log: log.WithName("ingressclasses")}).SetupWithManager(s.mgr)
		}},
		{"services", func() error {
			return (&services.Reconciler{Virtual: virtual, VirtualReader: reader, Host: host, Translator: tr, Log: log.WithName("services")}).
				SetupWithManager(s.mgr)
		}},
		{"events", func() error {
			return (&hostevents.Reconciler{Virtual: virtual, Host: host, Translator: tr, Workers: eventWorkers,
				WriteQPS: s.opts.QPS / eventShare, WriteBurst: s.opts.Burst / eventShare, Log: log.WithName("events")}).SetupWithManager(s.mgr)
		}},
		{"nodes", func() error {
			return (&nodes.Reconciler{Virtual: virtual, Host: host, Translator: tr, Kubelet: s.kubelet, Log: log.WithName("nodes")}).
				SetupWithManager(context.Background(), s.mgr)
		}},
	}
	for _, r := range table {
		if err := r.setup(); err != nil {
			return fmt.Errorf("syncer %s: %w", r.name, err)
		}
	}
	return nil
}

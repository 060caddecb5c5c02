package ingresses

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/kplex-dev/kplex/internal/translate"
)

// ReasonNotAllowed is the Warning event on each virtual Ingress while the tenant may not
// have Ingresses.
const ReasonNotAllowed = "IngressesNotAllowed"

// Withdraw runs while the tenant may not have Ingresses (spec.isolation.allowIngresses
// false; its API server refuses new ones): the host copies made while it could are
// deleted, so the host's ingress controllers stop routing them, and each virtual Ingress
// left in the tenant's store gets a Warning event saying why nothing serves it. It retries
// until it has done both, then returns.
type Withdraw struct {
	Virtual    client.Reader // uncached
	Host       cluster.Cluster
	Translator *translate.Translator
	Events     recorder.EventRecorder
	Log        logr.Logger
}

// Start implements manager.Runnable.
func (w *Withdraw) Start(ctx context.Context) error {
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: time.Minute}
	return wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		if err := w.once(ctx); err != nil {
			w.Log.Error(err, "Withdrawing the tenant's Ingresses; retrying")
			return false, nil
		}
		return true, nil
	})
}

func (w *Withdraw) once(ctx context.Context) error {
	hosts := &networkingv1.IngressList{}
	ns := w.Translator.Tenant().HostNamespace
	if err := w.Host.GetAPIReader().List(ctx, hosts, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: w.Translator.OwnedSelector()}); err != nil {
		return fmt.Errorf("list the host copies of Ingresses in %s: %w", ns, err)
	}
	for i := range hosts.Items {
		h := &hosts.Items[i]
		err := w.Host.GetClient().Delete(ctx, h, client.Preconditions{UID: &h.UID})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete host ingress %s/%s: %w", ns, h.Name, err)
		}
	}
	virtuals := &networkingv1.IngressList{}
	if err := w.Virtual.List(ctx, virtuals); err != nil {
		return fmt.Errorf("list the virtual Ingresses: %w", err)
	}
	for i := range virtuals.Items {
		w.Events.Eventf(&virtuals.Items[i], nil, corev1.EventTypeWarning, ReasonNotAllowed, "Sync",
			"not served: this virtual cluster may not have Ingresses (its VirtualCluster's spec.isolation.allowIngresses is false); its host copy is removed")
	}
	w.Log.Info("Ingresses are not allowed: host copies removed", "hostCopies", len(hosts.Items), "virtualIngresses", len(virtuals.Items))
	return nil
}

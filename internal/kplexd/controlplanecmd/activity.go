package controlplanecmd

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/syncer"
)

// activityEvery is how often the last activity is reported: sleep decisions are minutes
// apart, and one write per interval at most keeps the host's load negligible.
const activityEvery = 15 * time.Second

// reportActivity writes last() into the activity Lease whenever it moved, until ctx ends.
// Failures are logged and retried at the next tick: a missed report only delays sleep.
func reportActivity(ctx context.Context, host kubernetes.Interface, ns string, last func() time.Time, every time.Duration, log logr.Logger) error {
	var reported time.Time
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		at := last()
		if !at.After(reported) {
			continue
		}
		if err := writeActivity(ctx, host, ns, at); err != nil {
			log.Info("Reporting activity failed; retrying", "err", err.Error())
			continue
		}
		reported = at
	}
}

func writeActivity(ctx context.Context, host kubernetes.Interface, ns string, at time.Time) error {
	leases := host.CoordinationV1().Leases(ns)
	cur, err := leases.Get(ctx, syncer.ActivityLease, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: syncer.ActivityLease},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("kplex-controlplane"), RenewTime: ptr.To(metav1.NewMicroTime(at))}}
		if _, err := leases.Create(ctx, l, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create lease %s/%s: %w", ns, syncer.ActivityLease, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get lease %s/%s: %w", ns, syncer.ActivityLease, err)
	}
	cur.Spec.RenewTime = ptr.To(metav1.NewMicroTime(at))
	if _, err := leases.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update lease %s/%s: %w", ns, syncer.ActivityLease, err)
	}
	return nil
}

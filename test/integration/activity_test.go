package integration

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/internal/syncer"
)

// TestActivityLease: kplexd reports the tenant's last API activity into a host Lease, and
// only requests by people (or the tenant's own controllers) move it: kplex's own
// components, the in-process controllers and health probes never do.
func TestActivityLease(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	host, virtual := kplexdWithSyncer(ctx, t, "kplex-act", "--activity-report-interval", "1s")
	hostAdmin := host.Client()
	renewed := func() time.Time {
		l, err := hostAdmin.CoordinationV1().Leases("kplex-act").Get(ctx, syncer.ActivityLease, metav1.GetOptions{})
		if err != nil || l.Spec.RenewTime == nil {
			return time.Time{}
		}
		return l.Spec.RenewTime.Time
	}

	// Left alone, only kplex talks to the virtual API server (the syncer's informers, the
	// controller-manager, readiness probes): no activity after this point.
	quiet := time.Now()
	time.Sleep(5 * time.Second)
	if at := renewed(); at.After(quiet) {
		t.Fatalf("activity reported at %s while only kplex's components used the API (since %s)", at.Format(time.RFC3339Nano), quiet.Format(time.RFC3339Nano))
	}

	used := time.Now()
	if _, err := virtual.Client().CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "activity lease renewed after the admin's request", func(context.Context) (bool, error) {
		return !renewed().Before(used), nil
	})
	if at := renewed(); at.After(time.Now()) {
		t.Errorf("activity reported in the future: %s", at)
	}
}

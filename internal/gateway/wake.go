package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
)

// Why a held connection is closed.
var (
	errUnknownCluster = errors.New("no such virtual cluster")
	errDeleting       = errors.New("the virtual cluster is being deleted")
	errSleepRequested = errors.New("the virtual cluster was asked to sleep after the gateway woke it")
	errStillWaking    = errors.New("the virtual cluster is still waking at the hold timeout; closed so that the client retries")
)

// wakeWait is one wait for a cluster to become Ready, shared by every connection held for
// it: one wake request and one poll, however many connections.
type wakeWait struct {
	done chan struct{} // closed when the wait ends; err says how
	err  error
}

// ready returns once vc is Ready, waking it if it sleeps; it fails at once for a cluster
// that does not exist or is being deleted, and after the hold timeout for one that is
// still waking (the wait goes on for the client's next connection).
func (g *Gateway) ready(ctx context.Context, vc string) error {
	cur, err := g.clusters.get(ctx, vc)
	if err != nil {
		return err
	}
	if !cur.DeletionTimestamp.IsZero() {
		return errDeleting
	}
	// Ready but asked to sleep: it is going to sleep; the wait asks for a wake first.
	if cur.Status.Phase == v1alpha1.PhaseReady && !needsWake(cur) {
		return nil
	}
	w := g.join(ctx, vc)
	hold := time.NewTimer(g.opts.HoldTimeout)
	defer hold.Stop()
	select {
	case <-w.done:
		return w.err
	case <-hold.C:
		return errStillWaking
	case <-ctx.Done():
		return ctx.Err()
	}
}

// join returns the wait for vc, starting it if none runs.
func (g *Gateway) join(ctx context.Context, vc string) *wakeWait {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.tenants[vc] // the caller was admitted, so t exists
	if t.wait != nil {
		return t.wait
	}
	w := &wakeWait{done: make(chan struct{})}
	t.wait = w
	g.waits.Add(1)
	go func() {
		defer g.waits.Done()
		err := g.waitReady(ctx, vc)
		g.mu.Lock()
		t.wait = nil
		g.forget(vc, t)
		g.mu.Unlock()
		w.err = err
		close(w.done)
	}()
	return w
}

// waitReady asks for vc to wake if it sleeps or is going to sleep, and polls until it is
// Ready, for at most the wake timeout.
func (g *Gateway) waitReady(ctx context.Context, vc string) error {
	log := g.opts.Log.WithValues("virtualCluster", vc)
	start := time.Now()
	var wokeAt time.Time // when this wait asked for a wake (or found none needed)
	err := wait.PollUntilContextTimeout(ctx, g.opts.PollInterval, g.opts.WakeTimeout, true, func(ctx context.Context) (bool, error) {
		cur, err := g.clusters.get(ctx, vc)
		if errors.Is(err, errUnknownCluster) {
			return false, err
		}
		if err != nil {
			log.Info("Reading the virtual cluster failed; retrying", "err", err.Error())
			return false, nil
		}
		switch {
		case !cur.DeletionTimestamp.IsZero():
			return false, errDeleting
		case !wokeAt.IsZero() && annotationTime(cur, v1alpha1.AnnotationSleepRequested).After(wokeAt):
			// A sleep request later than this wait's wake: the later one wins.
			return false, errSleepRequested
		case needsWake(cur) && wokeAt.IsZero():
			at, err := g.clusters.wake(ctx, cur)
			if err != nil {
				log.Info("Asking the virtual cluster to wake failed; retrying", "err", err.Error())
				return false, nil
			}
			wokeAt = time.Now()
			if !at.IsZero() {
				wokeAt = at
				log.Info("Asked the sleeping virtual cluster to wake for a connection", "phase", string(cur.Status.Phase))
			}
			return false, nil
		case needsWake(cur):
			return false, nil // the cache does not show the wake request yet
		}
		return cur.Status.Phase == v1alpha1.PhaseReady, nil
	})
	if wait.Interrupted(err) && ctx.Err() == nil {
		return fmt.Errorf("the virtual cluster was not ready within %s", g.opts.WakeTimeout)
	}
	if err == nil && !wokeAt.IsZero() {
		log.Info("Woken virtual cluster is ready", "waited", time.Since(start).Round(time.Millisecond).String())
	}
	return err
}

// needsWake says whether vc sleeps or is going to sleep, by the operator's rule: its
// sleep request is later than its wake request (an absent or unreadable time counts as
// never). A cluster being deleted never needs waking.
func needsWake(vc *v1alpha1.VirtualCluster) bool {
	if !vc.DeletionTimestamp.IsZero() {
		return false
	}
	return annotationTime(vc, v1alpha1.AnnotationSleepRequested).After(annotationTime(vc, v1alpha1.AnnotationWakeRequested))
}

// annotationTime is the RFC 3339 time (fractional seconds allowed) of annotation key, or
// the zero time.
func annotationTime(vc *v1alpha1.VirtualCluster, key string) time.Time {
	t, err := time.Parse(time.RFC3339, vc.Annotations[key])
	if err != nil {
		return time.Time{}
	}
	return t
}

// clusters reads and wakes VirtualClusters.
type clusters struct {
	c client.Client
}

func (cs *clusters) get(ctx context.Context, name string) (*v1alpha1.VirtualCluster, error) {
	vc := &v1alpha1.VirtualCluster{}
	if err := cs.c.Get(ctx, client.ObjectKey{Name: name}, vc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, errUnknownCluster
		}
		return nil, fmt.Errorf("get virtual cluster %s: %w", name, err)
	}
	return vc, nil
}

// wake sets vc's wake annotation to now if vc still needs waking. The patch carries vc's
// resourceVersion: a cluster that changed since it was read (a deletion that began, a
// newer request) is read again and judged again, never overwritten blindly. It returns the
// time it wrote, zero if no wake was needed any more.
func (cs *clusters) wake(ctx context.Context, vc *v1alpha1.VirtualCluster) (time.Time, error) {
	name := vc.Name
	var written time.Time
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if vc == nil {
			var err error
			if vc, err = cs.get(ctx, name); err != nil {
				return err
			}
		}
		if !needsWake(vc) {
			return nil
		}
		patch := client.MergeFromWithOptions(vc.DeepCopy(), client.MergeFromWithOptimisticLock{})
		if vc.Annotations == nil {
			vc.Annotations = map[string]string{}
		}
		now := time.Now().UTC()
		vc.Annotations[v1alpha1.AnnotationWakeRequested] = now.Format(time.RFC3339Nano)
		err := cs.c.Patch(ctx, vc, patch)
		if err == nil {
			written = now
		}
		vc = nil
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("request wake of virtual cluster %s: %w", name, err)
	}
	return written, nil
}

// Package sleep is `kplex sleep NAME` and `kplex wake NAME`: they ask the operator to put
// a virtual cluster to sleep (its host pods removed, its control plane scaled to zero, its
// data kept) or to wake it, and with --wait follow it there.
package sleep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/args"
	"github.com/kplex-dev/kplex/internal/cli/create"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/output"
	"github.com/kplex-dev/kplex/internal/cli/poll"
)

// Options are the flags of kplex sleep and kplex wake.
type Options struct {
	Wait poll.Wait
}

// NewSleepCommand returns `kplex sleep`.
func NewSleepCommand(h *host.Options, s output.Streams) *cobra.Command {
	o := Options{}
	cmd := &cobra.Command{
		Use:   "sleep NAME",
		Short: "Put a virtual cluster to sleep: no pods, no control plane, data kept",
		Long: `Asks the operator to put virtual cluster NAME to sleep: its control plane is scaled to
zero and every pod it runs on the host is removed, so it uses no CPU or memory; its data
(store, volumes, Services, Secrets) stays. kplex wake NAME, or the first connection through
the gateway, brings it back with its workloads as they were. With --wait, returns once it
sleeps.`,
		Args: args.OneName,
		RunE: h.RunE(s.Log, func(ctx context.Context, hc *host.Host, a []string) error {
			return Sleep(ctx, hc, s, a[0], o)
		}),
	}
	o.addFlags(cmd, "asleep")
	return cmd
}

// NewWakeCommand returns `kplex wake`.
func NewWakeCommand(h *host.Options, s output.Streams) *cobra.Command {
	o := Options{}
	cmd := &cobra.Command{
		Use:   "wake NAME",
		Short: "Wake a sleeping virtual cluster",
		Long: `Asks the operator to wake virtual cluster NAME: its control plane starts again and the
syncer recreates its workloads on the host. With --wait, returns once it is Ready.`,
		Args: args.OneName,
		RunE: h.RunE(s.Log, func(ctx context.Context, hc *host.Host, a []string) error {
			return Wake(ctx, hc, s, a[0], o)
		}),
	}
	o.addFlags(cmd, "Ready")
	return cmd
}

func (o *Options) addFlags(cmd *cobra.Command, state string) {
	o.Wait.AddFlags(cmd.Flags(), "the virtual cluster is "+state, false, 5*time.Minute)
}

// Sleep asks for sleep and, with --wait, waits for it.
func Sleep(ctx context.Context, h *host.Host, s output.Streams, name string, o Options) error {
	if err := request(ctx, h, name, v1alpha1.AnnotationSleepRequested, "kplex sleep"); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "virtualcluster %s sleep requested\n", name)
	if !o.Wait.Enabled {
		return nil
	}
	if err := waitAsleep(ctx, h, s, name, o.Wait.Timeout); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "virtualcluster %s is asleep: no pod runs for it on the host; kplex wake %s wakes it\n", name, name)
	return nil
}

// Wake asks for wake and, with --wait, waits until the cluster is Ready.
func Wake(ctx context.Context, h *host.Host, s output.Streams, name string, o Options) error {
	if err := request(ctx, h, name, v1alpha1.AnnotationWakeRequested, ""); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "virtualcluster %s wake requested\n", name)
	if !o.Wait.Enabled {
		return nil
	}
	if err := create.WaitReady(ctx, h, s, name, o.Wait.Timeout); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "virtualcluster %s is Ready\n", name)
	return nil
}

// request stamps the request annotation with the current time (the operator obeys the
// later of sleep and wake); a reason, when given, says who asked.
func request(ctx context.Context, h *host.Host, name, annotation, reason string) error {
	vc, err := h.VirtualCluster(ctx, name)
	if err != nil {
		return err
	}
	if vc.DeletionTimestamp != nil {
		return fmt.Errorf("virtual cluster %s is being deleted", name)
	}
	patch := client.MergeFrom(vc.DeepCopy())
	if vc.Annotations == nil {
		vc.Annotations = map[string]string{}
	}
	vc.Annotations[annotation] = time.Now().UTC().Format(time.RFC3339Nano)
	if reason != "" {
		vc.Annotations[v1alpha1.AnnotationSleepReason] = reason
	}
	if err := h.Client.Patch(ctx, vc, patch); err != nil {
		return fmt.Errorf("annotate virtual cluster %s: %w", name, h.Explain(err))
	}
	return nil
}

// waitAsleep polls until the Asleep condition is true, printing the state as it changes.
func waitAsleep(ctx context.Context, h *host.Host, s output.Streams, name string, timeout time.Duration) error {
	p := output.NewProgress(s.ErrOut)
	p.Step("waiting for virtual cluster %s to sleep (timeout %s)", name, timeout)
	state := "not read yet"
	err := poll.Until(ctx, 500*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		vc, err := h.VirtualCluster(ctx, name)
		if err != nil {
			return false, err
		}
		state = host.State(vc)
		c := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionAsleep)
		if c != nil && c.Reason != v1alpha1.ReasonAwake {
			state += ": " + c.Message
		}
		p.Update(state)
		if vc.DeletionTimestamp != nil {
			return false, fmt.Errorf("virtual cluster %s is being deleted", name)
		}
		return c != nil && c.Status == metav1.ConditionTrue, nil
	})
	if errors.Is(err, poll.ErrTimeout) {
		return fmt.Errorf("virtual cluster %s not asleep after %s (%s): kplex status %s shows its conditions and pods", name, timeout, state, name)
	}
	return err
}

// Package delete is `kplex delete NAME`: it deletes a VirtualCluster and,
// with --wait, waits until the operator has removed it and its host
// namespace.
package delete

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/args"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/output"
	"github.com/kplex-dev/kplex/internal/cli/poll"
)

// Options are the flags of kplex delete.
type Options struct {
	Wait poll.Wait
}

// NewCommand returns `kplex delete`.
func NewCommand(h *host.Options, s output.Streams) *cobra.Command {
	o := Options{}
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a virtual cluster and everything it has on the host",
		Long: `Deletes VirtualCluster NAME. The operator then removes every host object it made for it,
host namespace kplex-NAME included, with the tenant's workloads and data. With --wait,
returns when all of that is gone.`,
		Args: args.OneName,
		RunE: h.RunE(s.Log, func(ctx context.Context, hc *host.Host, a []string) error {
			return Run(ctx, hc, s, a[0], o)
		}),
	}
	o.Wait.AddFlags(cmd.Flags(), "the virtual cluster and its host namespace are gone", false, 5*time.Minute)
	return cmd
}

// Run deletes the virtual cluster.
func Run(ctx context.Context, h *host.Host, s output.Streams, name string, o Options) error {
	vc := &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := h.Client.Delete(ctx, vc); err != nil {
		if apierrors.IsNotFound(err) {
			return host.NoSuchCluster(name, h)
		}
		return fmt.Errorf("delete virtual cluster %s: %w", name, h.Explain(err))
	}
	fmt.Fprintf(s.Out, "virtualcluster %s deletion requested\n", name)
	if !o.Wait.Enabled {
		return nil
	}
	if err := waitGone(ctx, h, s, name, o.Wait.Timeout); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "virtualcluster %s deleted; host namespace %s is gone\n", name, v1alpha1.HostNamespace(name))
	return nil
}

// waitGone waits until the VirtualCluster and then its host namespace no
// longer exist, printing the phase as it changes.
func waitGone(ctx context.Context, h *host.Host, s output.Streams, name string, timeout time.Duration) error {
	p := output.NewProgress(s.ErrOut)
	p.Step("waiting for virtual cluster %s and host namespace %s to be gone (timeout %s)", name, v1alpha1.HostNamespace(name), timeout)
	var state string
	err := poll.Until(ctx, 500*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		vc := &v1alpha1.VirtualCluster{}
		err := h.Client.Get(ctx, client.ObjectKey{Name: name}, vc)
		switch {
		case err == nil:
			state = "virtual cluster " + host.State(vc) + pendingFinalizers(vc)
		case !apierrors.IsNotFound(err):
			return false, h.Explain(err)
		default:
			state = "virtual cluster gone"
		}
		ns := &corev1.Namespace{}
		err = h.Client.Get(ctx, client.ObjectKey{Name: v1alpha1.HostNamespace(name)}, ns)
		switch {
		case apierrors.IsNotFound(err) && state == "virtual cluster gone":
			return true, nil
		case apierrors.IsNotFound(err):
		case err != nil:
			return false, h.Explain(err)
		default:
			pods := &corev1.PodList{}
			if err := h.Client.List(ctx, pods, client.InNamespace(ns.Name)); err != nil {
				return false, h.Explain(err)
			}
			state += fmt.Sprintf("; host namespace %s %s, pods left: %d", ns.Name, ns.Status.Phase, len(pods.Items))
		}
		p.Update(state)
		return false, nil
	})
	if errors.Is(err, poll.ErrTimeout) {
		hint := "kplex status " + name + " shows what remains"
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if op, oerr := h.Operator(octx); oerr == nil && !op.Available {
			hint = "the kplex operator, which removes the host objects, is " + op.String()
		}
		return fmt.Errorf("virtual cluster %s not gone after %s (%s): %s", name, timeout, state, hint)
	}
	return err
}

// pendingFinalizers names what holds the deletion back, unless the operator
// says it is deleting.
func pendingFinalizers(vc *v1alpha1.VirtualCluster) string {
	if len(vc.Finalizers) == 0 || vc.Status.Phase == v1alpha1.PhaseDeleting {
		return ""
	}
	return fmt.Sprintf(" (finalizers %v)", vc.Finalizers)
}

// Package create is `kplex create NAME`: it creates a VirtualCluster from
// flags and, with --wait, shows its progress until it is Ready.
package create

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/args"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/output"
	"github.com/kplex-dev/kplex/internal/cli/poll"
)

// Options are the flags of kplex create.
type Options struct {
	Spec SpecFlags
	Wait poll.Wait
}

// NewCommand returns `kplex create`.
func NewCommand(h *host.Options, s output.Streams) *cobra.Command {
	o := Options{}
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a virtual cluster",
		Long: `Creates VirtualCluster NAME; the operator runs its control plane in host namespace
kplex-NAME. Every flag is optional: the defaults make a working virtual cluster.
With --wait, shows the phase and condition reasons as they change until it is Ready.`,
		Example: `  kplex create team-a --wait
  kplex create team-b --expose NodePort --storage-size 2Gi
  kplex create team-c --datastore-secret team-c-postgres:dsn`,
		Args: args.OneName,
		RunE: h.RunE(s.Log, func(ctx context.Context, hc *host.Host, args []string) error {
			spec, err := o.Spec.Spec()
			if err != nil {
				return err
			}
			return Run(ctx, hc, s, args[0], spec, o)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.Spec.Expose, "expose", "", "Service type of the API server: ClusterIP (default), NodePort or LoadBalancer")
	f.StringVar(&o.Spec.PodSecurity, "pod-security", "", "Pod Security level enforced on the host namespace: restricted (default) or baseline")
	f.StringVar(&o.Spec.StorageSize, "storage-size", "", "volume size of the embedded datastore (default "+v1alpha1.DefaultEmbeddedSize+")")
	f.StringVar(&o.Spec.StorageClass, "storage-class", "", "StorageClass of the embedded datastore's volume (default: the host's default)")
	f.StringVar(&o.Spec.DatastoreSecret, "datastore-secret", "", "external datastore: Secret NAME[:KEY] in namespace kplex-system holding its DSN (key default dsn)")
	f.StringVar(&o.Spec.Image, "image", "", "kplexd image of the control plane (default: the operator's)")
	f.Int32Var(&o.Spec.SyncQPS, "sync-qps", 0, "syncer queries per second to each API server (0: kplexd's default)")
	f.DurationVar(&o.Spec.SleepAfter, "sleep-after", 0, "put the cluster to sleep after this long without use of its API, e.g. 30m (0: never by itself)")
	f.Int32Var(&o.Spec.SyncBurst, "sync-burst", 0, "syncer burst to each API server (0: kplexd's default)")
	o.Wait.AddFlags(f, "the virtual cluster is Ready", false, 5*time.Minute)
	return cmd
}

// Run creates the VirtualCluster and, with --wait, waits for it.
func Run(ctx context.Context, h *host.Host, s output.Streams, name string, spec v1alpha1.VirtualClusterSpec, o Options) error {
	vc := &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := h.Client.Create(ctx, vc); err != nil {
		switch {
		case apierrors.IsAlreadyExists(err):
			return fmt.Errorf("virtual cluster %q already exists: kplex status %s shows it; kplex delete %s removes it", name, name, name)
		case apierrors.IsInvalid(err):
			return fmt.Errorf("the host refused the virtual cluster: %s", host.StatusMessage(err))
		}
		return fmt.Errorf("create virtual cluster %s: %w", name, h.Explain(err))
	}
	fmt.Fprintf(s.Out, "virtualcluster %s created (host namespace %s)\n", name, v1alpha1.HostNamespace(name))
	if !o.Wait.Enabled {
		return nil
	}
	if err := WaitReady(ctx, h, s, name, o.Wait.Timeout); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "virtualcluster %s is Ready: kplex connect %s\n", name, name)
	return nil
}

// WaitReady polls the VirtualCluster until it is Ready, printing its state
// as it changes. Failed, deletion or the timeout end the wait with an
// error that says where to look.
func WaitReady(ctx context.Context, h *host.Host, s output.Streams, name string, timeout time.Duration) error {
	p := output.NewProgress(s.ErrOut)
	p.Step("waiting for virtual cluster %s to be Ready (timeout %s)", name, timeout)
	var vc *v1alpha1.VirtualCluster
	err := poll.Until(ctx, 500*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		var err error
		if vc, err = h.VirtualCluster(ctx, name); err != nil {
			return false, err
		}
		p.Update(host.State(vc))
		switch {
		case vc.DeletionTimestamp != nil:
			return false, fmt.Errorf("virtual cluster %s is being deleted", name)
		case vc.Status.Phase == v1alpha1.PhaseFailed:
			return false, fmt.Errorf("virtual cluster %s failed: %s: kplex status %s shows the conditions", name, failure(vc), name)
		}
		return vc.Status.Phase == v1alpha1.PhaseReady && vc.Status.ObservedGeneration >= vc.Generation, nil
	})
	if errors.Is(err, poll.ErrTimeout) {
		return notReady(ctx, h, name, vc, timeout)
	}
	return err
}

// notReady explains a timeout: when the operator is missing or not running,
// that is the cause, not the virtual cluster.
func notReady(ctx context.Context, h *host.Host, name string, vc *v1alpha1.VirtualCluster, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	state := "not read yet"
	if vc != nil {
		state = host.State(vc)
	}
	op, err := h.Operator(ctx)
	switch {
	case err != nil:
	case !op.Installed:
		return fmt.Errorf("virtual cluster %s not Ready after %s (%s): the kplex operator is not installed: run kplex install", name, timeout, state)
	case !op.Available:
		return fmt.Errorf("virtual cluster %s not Ready after %s (%s): the kplex operator is not running (%s): kplex install waits for it and says why", name, timeout, state, op)
	}
	return fmt.Errorf("virtual cluster %s not Ready after %s (%s): kplex status %s shows its conditions and pods", name, timeout, state, name)
}

// failure is the message of the first False condition.
func failure(vc *v1alpha1.VirtualCluster) string {
	for _, c := range vc.Status.Conditions {
		if c.Status == metav1.ConditionFalse && c.Message != "" {
			return c.Reason + ": " + c.Message
		}
	}
	return host.State(vc)
}

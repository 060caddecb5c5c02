// Package operatorcmd is `kplexd operator`: flags in, the VirtualCluster operator running.
package operatorcmd

import (
	"fmt"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/operator"
)

// NewCommand returns the operator subcommand.
func NewCommand(log logr.Logger) *cobra.Command {
	var kubeconfig string
	var gw gatewayFlags
	var ingressNamespaces []string
	var ingressSelector string
	opts := operator.Options{}
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Run the VirtualCluster operator against the host cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.GatewayDomain, err = gw.validate(); err != nil {
				return err
			}
			if opts.IngressControllers, err = operator.NewIngressControllers(ingressNamespaces, ingressSelector); err != nil {
				return err
			}
			if err := operator.ValidNetworkGateProbe(opts.NetworkGateProbe); err != nil {
				return err
			}
			// Empty kubeconfig: the in-cluster configuration.
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("host cluster configuration (set --kubeconfig, or run in a pod): %w", err)
			}
			// controller-runtime's own packages log through its process-wide logger.
			ctrl.SetLogger(log)
			g, ctx := errgroup.WithContext(cmd.Context())
			if opts.GatewayDomain != "" {
				l, err := gw.listen()
				if err != nil {
					return err
				}
				g.Go(func() error { return gw.run(ctx, cfg, l, log.WithName("gateway")) })
			}
			g.Go(func() error { return operator.Run(ctx, cfg, opts, log.WithName("operator")) })
			return g.Wait()
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the host cluster (default: the in-cluster configuration)")
	fs.StringVar(&opts.DefaultImage, "default-image", install.DefaultImage, "kplexd image of the control planes whose VirtualCluster names none")
	fs.BoolVar(&opts.LeaderElect, "leader-elect", true, "elect a leader, so that only one operator replica acts")
	fs.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", install.Namespace, "namespace of the leader election Lease")
	fs.StringVar(&opts.HealthProbeAddress, "health-probe-bind-address", fmt.Sprintf(":%d", install.HealthPort), "address of /healthz and /readyz (0: off)")
	fs.StringVar(&opts.MetricsAddress, "metrics-bind-address", "0", "address of /metrics (0: off)")
	fs.StringSliceVar(&ingressNamespaces, operator.IngressNamespaceFlag, nil, operator.IngressNamespaceHelp)
	fs.StringVar(&opts.NetworkGateProbe, operator.NetworkGateFlag, "", operator.NetworkGateHelp)
	fs.StringVar(&ingressSelector, operator.IngressSelectorFlag, "", operator.IngressSelectorHelp)
	gw.addFlags(fs)
	return cmd
}

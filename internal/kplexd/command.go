// Package kplexd assembles kplexd's subcommands and its logging.
package kplexd

import (
	"flag"
	"strconv"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/kplex-dev/kplex/internal/kplexd/controlplanecmd"
	"github.com/kplex-dev/kplex/internal/kplexd/operatorcmd"
)

// NewCommand returns kplexd's root command.
func NewCommand() *cobra.Command {
	verbosity := 0
	root := &cobra.Command{
		Use:           "kplexd",
		Short:         "kplex server: a tenant's control plane, or the host operator",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			// klog is the upstream components' logger; configure it once for the process.
			fs := flag.NewFlagSet("klog", flag.ContinueOnError)
			klog.InitFlags(fs)
			// kine logs through logrus; its per-query chatter is only useful when debugging.
			logrus.SetLevel(logrus.WarnLevel)
			if verbosity >= 4 {
				logrus.SetLevel(logrus.DebugLevel)
			}
			return fs.Set("v", strconv.Itoa(verbosity))
		},
	}
	root.PersistentFlags().IntVarP(&verbosity, "v", "v", 0, "log verbosity (0-10)")
	root.AddCommand(controlplanecmd.NewCommand(klog.Background()), operatorcmd.NewCommand(klog.Background()))
	return root
}

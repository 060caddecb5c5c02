// Package root is the kplex command line: global flags and one subcommand
// per verb, each in its own package under internal/cli.
package root

import (
	"context"
	"flag"
	"io"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2/textlogger"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kplex-dev/kplex/internal/cli/audit"
	"github.com/kplex-dev/kplex/internal/cli/connect"
	"github.com/kplex-dev/kplex/internal/cli/create"
	"github.com/kplex-dev/kplex/internal/cli/delete"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/install"
	"github.com/kplex-dev/kplex/internal/cli/list"
	"github.com/kplex-dev/kplex/internal/cli/output"
	"github.com/kplex-dev/kplex/internal/cli/sleep"
	"github.com/kplex-dev/kplex/internal/cli/status"
	"github.com/kplex-dev/kplex/internal/cli/version"
)

// NewCommand returns the kplex command with every verb.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd, _ := newCommand(stdout, stderr)
	return cmd
}

// newCommand also returns the logger the commands write to (at -v).
func newCommand(stdout, stderr io.Writer) (*cobra.Command, logr.Logger) {
	logConfig := textlogger.NewConfig(textlogger.Output(stderr))
	s := output.Streams{Out: stdout, ErrOut: stderr, Log: textlogger.NewLogger(logConfig)}
	h := &host.Options{}
	root := &cobra.Command{
		Use:   "kplex",
		Short: "Virtual Kubernetes clusters for the tenants of a shared host cluster",
		Long: `kplex gives each tenant of a shared Kubernetes cluster a virtual cluster of its own.

Start with "kplex install" (once per host), then "kplex create NAME --wait" and
"kplex connect NAME". The host is chosen as kubectl does: --kubeconfig, --context,
$KUBECONFIG, ~/.kube/config; on a devhost with none of these, its kubeconfig.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	h.AddFlags(root.PersistentFlags())
	goflags := flag.NewFlagSet("log", flag.ContinueOnError)
	goflags.Var(logConfig.Verbosity(), "v", "log verbosity (0: none; 1: requests and decisions; 6+: HTTP)")
	root.PersistentFlags().AddGoFlagSet(goflags)
	root.AddCommand(
		install.NewCommand(h, s),
		create.NewCommand(h, s),
		list.NewCommand(h, s),
		status.NewCommand(h, s),
		connect.NewCommand(h, s),
		delete.NewCommand(h, s),
		sleep.NewSleepCommand(h, s),
		sleep.NewWakeCommand(h, s),
		version.NewCommand(h, s),
		audit.NewCommand(h, s),
	)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root, s.Log
}

// Run parses args and runs the chosen command.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd, log := newCommand(stdout, stderr)
	// controller-runtime's client logs through its own package logger and,
	// when none is set, warns on stderr after a while (kplex connect runs for
	// hours): give it the command's logger.
	ctrllog.SetLogger(log)
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

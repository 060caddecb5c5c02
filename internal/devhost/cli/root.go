// Package cli is the kplex-devhost command line: one cobra command per verb,
// each a thin layer over package lifecycle (or package daemon, for the hidden
// command that runs inside the devhost network namespace).
package cli

import (
	"context"
	"io"
	"os"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2/textlogger"

	"github.com/kplex-dev/kplex/internal/devhost/layout"
	"github.com/kplex-dev/kplex/internal/devhost/preflight"
)

// globals are the flags every command shares.
type globals struct {
	dataDir   string
	verbosity int
	stdout    io.Writer
	stderr    io.Writer
}

func (g *globals) layout() (layout.Layout, error) { return layout.New(g.dataDir) }

// logger writes structured logs to stderr; at verbosity 0 only errors matter
// to a person running a command, and those come back as the command's error.
func (g *globals) logger() logr.Logger {
	if g.verbosity <= 0 {
		return logr.Discard()
	}
	return textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(g.verbosity), textlogger.Output(g.stderr)))
}

// machine checks the platform, finds every command devhost runs and resolves the
// data dir: what every command that touches the machine needs first.
func (g *globals) machine() (preflight.Paths, layout.Layout, error) {
	if err := preflight.CheckPlatform(); err != nil {
		return nil, layout.Layout{}, err
	}
	tools, err := preflight.FindCommands(preflight.LookPath)
	if err != nil {
		return nil, layout.Layout{}, err
	}
	l, err := g.layout()
	return tools, l, err
}

// Run parses args and runs the chosen command.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "kplex-devhost",
		Short:         "A real single-node Kubernetes host on this Linux machine, for kplex demos and end-to-end tests",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", layout.DefaultDataDir, "directory for all devhost state and logs")
	root.PersistentFlags().IntVarP(&g.verbosity, "v", "v", 0, "log verbosity")
	root.AddCommand(newUpCommand(g), newDownCommand(g), newStatusCommand(g), newLoadImageCommand(g), newDaemonCommand(g))
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// self is this executable, for running it again as the daemon.
func self() (string, error) { return os.Executable() }

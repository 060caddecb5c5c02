package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/kplex-dev/kplex/internal/devhost/lifecycle"
	"github.com/kplex-dev/kplex/internal/devhost/preflight"
)

func newUpCommand(g *globals) *cobra.Command {
	var (
		timeout      time.Duration
		pauseBinary  string
		kplexdBinary string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the devhost and wait until its node is Ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tools, l, err := g.machine()
			if err != nil {
				return err
			}
			pause, err := preflight.FindCompanion("kplex-pause", pauseBinary)
			if err != nil {
				return err
			}
			kplexd, err := preflight.FindCompanion("kplexd", kplexdBinary)
			if err != nil {
				kplexd = "" // optional: without it there is no kplexd image
			}
			exe, err := self()
			if err != nil {
				return err
			}
			return lifecycle.Up(cmd.Context(), lifecycle.UpOptions{
				Layout: l, Tools: tools, Self: exe, PauseBinary: pause, KplexdBinary: kplexd,
				Timeout: timeout, Verbosity: g.verbosity,
			}, g.stdout, g.logger())
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the node to be Ready")
	cmd.Flags().StringVar(&pauseBinary, "kplex-pause", "", "kplex-pause binary for the pod sandbox image (default: next to kplex-devhost)")
	cmd.Flags().StringVar(&kplexdBinary, "kplexd", "", "kplexd binary for the kplexd image (default: next to kplex-devhost; skipped when absent)")
	return cmd
}

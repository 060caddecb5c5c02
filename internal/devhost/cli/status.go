package cli

import (
	"github.com/spf13/cobra"

	"github.com/kplex-dev/kplex/internal/devhost/lifecycle"
	"github.com/kplex-dev/kplex/internal/devhost/preflight"
)

func newStatusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Say what runs; exit status 1 unless the node is Ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := preflight.CheckPlatform(); err != nil {
				return err
			}
			l, err := g.layout()
			if err != nil {
				return err
			}
			return lifecycle.Status(cmd.Context(), l, g.stdout)
		},
	}
}

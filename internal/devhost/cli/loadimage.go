package cli

import (
	"github.com/spf13/cobra"

	"github.com/kplex-dev/kplex/internal/devhost/lifecycle"
)

func newLoadImageCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "load-image FILE.tar",
		Short: "Import an OCI or docker-save image archive into the devhost's containerd",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tools, l, err := g.machine()
			if err != nil {
				return err
			}
			return lifecycle.LoadImage(cmd.Context(), l, tools["ctr"], args[0], g.stdout)
		},
	}
}

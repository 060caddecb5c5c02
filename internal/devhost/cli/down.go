package cli

import (
	"github.com/spf13/cobra"

	"github.com/kplex-dev/kplex/internal/devhost/lifecycle"
	"github.com/kplex-dev/kplex/internal/devhost/netns"
)

func newDownCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop the devhost and remove everything it created (logs are kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tools, l, err := g.machine()
			if err != nil {
				return err
			}
			return lifecycle.Down(cmd.Context(), l, netns.Tools{IP: tools["ip"], Nft: tools["nft"]}, g.stdout, g.logger())
		},
	}
}

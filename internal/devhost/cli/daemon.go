package cli

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/kplex-dev/kplex/internal/devhost/daemon"
)

// sbinPath makes the sbin directories visible to the embedded components,
// which run iptables, ipset and nft by name; sudo may have left them out.
const sbinPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func newDaemonCommand(g *globals) *cobra.Command {
	var pauseBinary, kplexdBinary string
	cmd := &cobra.Command{
		Use:    "daemon",
		Short:  "Run the devhost inside its network namespace (started by up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.Setenv("PATH", sbinPath); err != nil {
				return err
			}
			tools, l, err := g.machine()
			if err != nil {
				return err
			}
			// The embedded upstream components all log through klog.
			fs := flag.NewFlagSet("klog", flag.ContinueOnError)
			klog.InitFlags(fs)
			if err := fs.Set("v", strconv.Itoa(g.verbosity)); err != nil {
				return fmt.Errorf("log verbosity: %w", err)
			}
			return daemon.Run(cmd.Context(), daemon.Options{
				Layout: l, Tools: tools, PauseBinary: pauseBinary, KplexdBinary: kplexdBinary, Verbosity: g.verbosity,
			}, klog.Background().WithName("devhost"))
		},
	}
	cmd.Flags().StringVar(&pauseBinary, "pause-binary", "", "kplex-pause binary")
	cmd.Flags().StringVar(&kplexdBinary, "kplexd-binary", "", "kplexd binary (optional)")
	return cmd
}

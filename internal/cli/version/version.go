// Package version is `kplex version`: the client's build, and the host's
// Kubernetes and kplex operator versions when the host answers.
package version

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"

	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/output"
)

// NewCommand returns `kplex version`.
func NewCommand(h *host.Options, s output.Streams) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the kplex version, and the host's Kubernetes and operator versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), h, s, clientOnly)
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only the client version; do not contact the host")
	return cmd
}

func run(ctx context.Context, opts *host.Options, s output.Streams, clientOnly bool) error {
	fmt.Fprintf(s.Out, "kplex:    %s\n", Client())
	if clientOnly {
		return nil
	}
	h, err := opts.Connect(host.ProcessEnv(), s.Log)
	if err != nil {
		fmt.Fprintf(s.Out, "host:     unknown (%v)\n", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dc, err := discovery.NewDiscoveryClientForConfig(h.Config)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		fmt.Fprintf(s.Out, "host:     unreachable (%v)\n", h.Explain(err))
		return nil
	}
	fmt.Fprintf(s.Out, "host:     Kubernetes %s at %s (context %s)\n", v.GitVersion, h.Server(), h.Context)
	fmt.Fprintf(s.Out, "operator: %s\n", operatorVersion(ctx, h))
	return nil
}

// commit is set at link time by make kplex (git describe --always --dirty);
// go build alone leaves it empty and the build information is used.
var commit string

// Client describes this binary: the commit it was built from (with
// "-dirty" when the tree had changes), the Go version and client-go's.
func Client() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	rev, dirty := "", ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if commit != "" {
		rev, dirty = commit, ""
	}
	if len(rev) > 12 && commit == "" {
		rev = rev[:12]
	}
	if rev == "" {
		rev = bi.Main.Version
	}
	clientGo := "unknown"
	for _, d := range bi.Deps {
		if d.Path == "k8s.io/client-go" {
			clientGo = d.Version
			if d.Replace != nil {
				clientGo = d.Replace.Version
			}
		}
	}
	return fmt.Sprintf("%s%s (%s, client-go %s)", rev, dirty, bi.GoVersion, clientGo)
}

// Package list is `kplex list`: the virtual clusters of the host as a table,
// JSON or YAML.
package list

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/output"
)

// NewCommand returns `kplex list`.
func NewCommand(h *host.Options, s output.Streams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the virtual clusters of the host",
		Args:    cobra.NoArgs,
		RunE: h.RunE(s.Log, func(ctx context.Context, hc *host.Host, _ []string) error {
			f, err := output.ParseFormat(format)
			if err != nil {
				return err
			}
			return Run(ctx, hc, s, f, time.Now())
		}),
	}
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

// Run lists the virtual clusters.
func Run(ctx context.Context, h *host.Host, s output.Streams, f output.Format, now time.Time) error {
	l := &v1alpha1.VirtualClusterList{}
	if err := h.Client.List(ctx, l); err != nil {
		return h.Explain(err)
	}
	if len(l.Items) == 0 && f == output.Table {
		fmt.Fprintf(s.ErrOut, "no virtual clusters on host %s: kplex create NAME makes one\n", h.Server())
		return nil
	}
	return Write(s.Out, f, l, now)
}

// Write prints l in format f; JSON and YAML are the API's objects (with
// apiVersion and kind, without managedFields), for scripts.
func Write(w io.Writer, f output.Format, l *v1alpha1.VirtualClusterList, now time.Time) error {
	l.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("VirtualClusterList"))
	for i := range l.Items {
		l.Items[i].SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("VirtualCluster"))
		l.Items[i].ManagedFields = nil
	}
	return output.Write(w, f, l, func(w io.Writer) error {
		t := output.NewTable(w, "NAME", "PHASE", "EXPOSE", "ENDPOINT", "HOST NAMESPACE", "AGE")
		for _, vc := range l.Items {
			phase := string(vc.Status.Phase)
			if phase == "" {
				phase = string(v1alpha1.PhasePending)
			}
			t.Row(vc.Name, phase, string(vc.Spec.Expose.Type), vc.Status.Endpoint, v1alpha1.HostNamespace(vc.Name), Age(vc.CreationTimestamp.Time, now))
		}
		return t.Flush()
	})
}

// Age is how kubectl shows an object's age.
func Age(created, now time.Time) string {
	if created.IsZero() {
		return ""
	}
	return duration.HumanDuration(now.Sub(created))
}

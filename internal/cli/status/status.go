// Package status is `kplex status NAME`: one virtual cluster's phase,
// conditions, endpoint, host namespace and the pods in it.
package status

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/args"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/list"
	"github.com/kplex-dev/kplex/internal/cli/output"
)

// NewCommand returns `kplex status`.
func NewCommand(h *host.Options, s output.Streams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a virtual cluster's phase, conditions, endpoint and host pods",
		Args:  args.OneName,
		RunE: h.RunE(s.Log, func(ctx context.Context, hc *host.Host, a []string) error {
			f, err := output.ParseFormat(format)
			if err != nil {
				return err
			}
			return Run(ctx, hc, s, a[0], f, time.Now())
		}),
	}
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table (for people), json or yaml (the VirtualCluster object)")
	return cmd
}

// Run prints the status of virtual cluster name.
func Run(ctx context.Context, h *host.Host, s output.Streams, name string, f output.Format, now time.Time) error {
	vc, err := h.VirtualCluster(ctx, name)
	if err != nil {
		return err
	}
	if f != output.Table {
		vc.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("VirtualCluster"))
		vc.ManagedFields = nil
		return output.Write(s.Out, f, vc, nil)
	}
	pods := &corev1.PodList{}
	ns := v1alpha1.HostNamespace(name)
	if err := h.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
		return h.Explain(err)
	}
	return Write(s.Out, vc, pods.Items, now)
}

// Write prints the human-readable status.
func Write(w io.Writer, vc *v1alpha1.VirtualCluster, pods []corev1.Pod, now time.Time) error {
	ns := vc.Status.HostNamespace
	if ns == "" {
		ns = v1alpha1.HostNamespace(vc.Name)
	}
	phase := string(vc.Status.Phase)
	if phase == "" {
		phase = "Pending (not yet seen by the operator)"
	}
	if vc.DeletionTimestamp != nil {
		phase += ", deletion requested " + list.Age(vc.DeletionTimestamp.Time, now) + " ago"
	}
	kubeconfig := ""
	if ref := vc.Status.KubeconfigSecret; ref != nil {
		kubeconfig = "Secret " + ref.Namespace + "/" + ref.Name + " (kplex connect " + vc.Name + ")"
	}
	row := func(k, v string) {
		if v == "" {
			v = "<none>"
		}
		fmt.Fprintf(w, "%-16s%s\n", k+":", v)
	}
	row("Name", vc.Name)
	row("Phase", phase)
	row("Endpoint", vc.Status.Endpoint)
	row("Host namespace", ns)
	row("Kubeconfig", kubeconfig)
	row("Spec", describeSpec(vc.Spec))
	row("Age", list.Age(vc.CreationTimestamp.Time, now))
	if vc.Status.ObservedGeneration < vc.Generation {
		row("Observed", fmt.Sprintf("generation %d of %d (the operator has not acted on the latest change yet)", vc.Status.ObservedGeneration, vc.Generation))
	}
	fmt.Fprintln(w, "\nConditions:")
	if len(vc.Status.Conditions) == 0 {
		fmt.Fprintln(w, "  none yet: is the operator running? (kplex version shows it)")
	} else {
		t := output.NewTable(w, "  TYPE", "STATUS", "REASON", "AGE", "MESSAGE")
		for _, c := range vc.Status.Conditions {
			t.Row("  "+c.Type, string(c.Status), c.Reason, list.Age(c.LastTransitionTime.Time, now), c.Message)
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nPods in host namespace %s:\n", ns)
	if len(pods) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	t := output.NewTable(w, "  NAME", "READY", "STATUS", "RESTARTS", "AGE")
	for i := range pods {
		p := &pods[i]
		ready, restarts := 0, int32(0)
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Ready {
				ready++
			}
			restarts += cs.RestartCount
		}
		t.Row("  "+p.Name, fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)), host.PodState(p), fmt.Sprint(restarts), list.Age(p.CreationTimestamp.Time, now))
	}
	return t.Flush()
}

// describeSpec is the spec on one line, defaults spelled out.
func describeSpec(s v1alpha1.VirtualClusterSpec) string {
	parts := []string{"expose " + orDefault(string(s.Expose.Type), string(v1alpha1.ExposeClusterIP))}
	switch s.Datastore.Type {
	case v1alpha1.DatastoreExternal:
		if e := s.Datastore.External; e != nil {
			parts = append(parts, "datastore external (Secret kplex-system/"+e.SecretRef.Name+" key "+orDefault(e.SecretRef.Key, "dsn")+")")
		}
	default:
		size := s.Datastore.EmbeddedSize()
		ds := "datastore embedded " + size.String()
		if e := s.Datastore.Embedded; e != nil && e.StorageClassName != nil {
			ds += " on StorageClass " + *e.StorageClassName
		}
		parts = append(parts, ds)
	}
	parts = append(parts, "pod security "+orDefault(string(s.Isolation.PodSecurity), string(v1alpha1.PodSecurityRestricted)))
	if s.ControlPlane.Image != "" {
		parts = append(parts, "image "+s.ControlPlane.Image)
	}
	return strings.Join(parts, ", ")
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

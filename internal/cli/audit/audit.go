// Package audit is `kplex audit NAME`: it acts as the tenant's cluster-admin against a
// live virtual cluster and tries what a hostile tenant would (pods and services the
// tenant policy must refuse, going beyond the host quota, another tenant's logs through
// the kubelet proxy, connections from a real pod to other tenants, the host API server
// and the metadata address), and prints one row per check with its evidence.
package audit

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/args"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/output"
)

// DefaultImage is the devhost's test image (busybox: sh, nc, httpd).
const DefaultImage = "localhost/kplex/testbox:v1"

// Options are the flags of kplex audit.
type Options struct {
	Format output.Format
	// Image runs the network probe and its target; it needs sh, nc and httpd.
	Image string
	// PodTimeout bounds how long a pod of the audit may take to start or finish.
	PodTimeout time.Duration
}

// NewCommand returns `kplex audit`.
func NewCommand(h *host.Options, s output.Streams) *cobra.Command {
	o := Options{}
	var format string
	cmd := &cobra.Command{
		Use:   "audit NAME",
		Short: "Try what a hostile tenant would against virtual cluster NAME and report what was refused",
		Long: `Acts as the tenant's cluster-admin against the live virtual cluster NAME and tries to
break out: pods and services the tenant policy must refuse, requests beyond the host
quota, the host's quota itself, another tenant's logs and exec through the kubelet proxy,
and, from a real pod, connections to other tenants' pods, services and control planes,
the host API server and the cloud metadata address (with the tenant's own pod and
service as the control that must be reachable).

Prints one row per check: PASS (refused), FAIL (it got through; the evidence says
what), SKIP (does not apply to this cluster's spec) or ERROR (could not tell). Exits
non-zero on any FAIL or ERROR. Everything it creates lives in virtual namespaces
kplex-audit-* (and one PersistentVolume should it be admitted), deleted at the end,
also on Ctrl-C. Needs the host rights of kplex connect and to read pods, services and
quotas in the host namespaces.`,
		Args: args.OneName,
		RunE: h.RunE(s.Log, func(ctx context.Context, hc *host.Host, a []string) error {
			f, err := output.ParseFormat(format)
			if err != nil {
				return err
			}
			if f == output.YAML {
				return fmt.Errorf("kplex audit prints -o table or -o json, not yaml")
			}
			o.Format = f
			return Run(ctx, hc, s, a[0], o)
		}),
	}
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table (one line per check) or json (full evidence)")
	cmd.Flags().StringVar(&o.Image, "image", DefaultImage, "image of the network probe pods (needs sh, nc and httpd, e.g. busybox); pulled IfNotPresent")
	cmd.Flags().DurationVar(&o.PodTimeout, "pod-timeout", 2*time.Minute, "how long a probe pod may take to start and finish")
	return cmd
}

// Run audits virtual cluster name and prints the report; the error says whether any
// check failed.
func Run(ctx context.Context, h *host.Host, s output.Streams, name string, o Options) error {
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.PodTimeout <= 0 {
		o.PodTimeout = 2 * time.Minute
	}
	p := output.NewProgress(s.ErrOut)
	vc, err := h.VirtualCluster(ctx, name)
	if err != nil {
		return err
	}
	// The connection outlives ctx: on Ctrl-C the checks stop but the cleanup still
	// needs the virtual API server.
	connCtx, disconnect := context.WithCancel(context.WithoutCancel(ctx))
	defer disconnect()
	p.Step("connecting to virtual cluster %s as its cluster-admin", name)
	virtual, err := connectVirtual(connCtx, h, s, name)
	if err != nil {
		return err
	}
	e := &env{host: h, vc: vc, virtual: virtual, level: podSecurity(vc), image: o.Image, podTimeout: o.PodTimeout,
		ns: "kplex-audit-" + randomSuffix(), progress: p}
	defer e.cleanup(connCtx)
	if err := e.createNamespace(ctx, e.ns, nil); err != nil {
		return err
	}
	p.Step("audit namespace %s created in %s", e.ns, name)
	var results []Result
	for _, g := range groups() {
		if ctx.Err() != nil {
			break
		}
		p.Step("%s: %d checks", g.name, len(g.checks))
		results = append(results, g.run(ctx, e)...)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("audit of %s interrupted (%v) after %d checks; what it made in the virtual cluster is deleted (see the cleanup lines above)", name, err, len(results))
	}
	r := newReport(name, e.level, results)
	if err := write(s.Out, o.Format, r); err != nil {
		return err
	}
	return r.Err()
}

// podSecurity is the level the tenant policy enforces (restricted when unset).
func podSecurity(vc *v1alpha1.VirtualCluster) string {
	if l := vc.Spec.Isolation.PodSecurity; l != "" {
		return string(l)
	}
	return string(v1alpha1.PodSecurityRestricted)
}

// randomSuffix is five characters valid in a namespace name.
func randomSuffix() string {
	const letters = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(letters[int(c)%len(letters)])
	}
	return sb.String()
}

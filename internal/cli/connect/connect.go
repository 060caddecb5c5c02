// Package connect is `kplex connect NAME`: it reads the virtual cluster's
// admin kubeconfig from the host and merges it into the user's kubeconfig
// (or prints it). When the API server is reachable only inside the host
// cluster, it port-forwards to the control-plane pod and keeps running.
package connect

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/args"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/output"
)

// Options are the flags of kplex connect.
type Options struct {
	Print       bool
	ContextName string // default kplex-NAME
}

// NewCommand returns `kplex connect`.
func NewCommand(h *host.Options, s output.Streams) *cobra.Command {
	o := Options{}
	cmd := &cobra.Command{
		Use:   "connect NAME",
		Short: "Add a virtual cluster's context to your kubeconfig (or print it)",
		Long: `Reads the admin kubeconfig of virtual cluster NAME from the host and adds it to your
kubeconfig as context kplex-NAME (or --context-name), made current; every other entry
is kept, and a name that is already yours is never overwritten. --print writes the
kubeconfig to stdout instead.

When the virtual cluster's API server is reachable only inside the host cluster (a
ClusterIP Service), kplex connect forwards a local port to its pod, points the context
at https://127.0.0.1:PORT (TLS still verifies the server's own name) and runs until
interrupted: the context works while it runs.

kplex commands keep using the host while a kplex-NAME context is current.`,
		Args: args.OneName,
		RunE: h.RunE(s.Log, func(ctx context.Context, hc *host.Host, a []string) error {
			target := ""
			if !o.Print {
				target = h.WriteTarget(host.ProcessEnv())
			}
			return Run(ctx, hc, s, a[0], target, o)
		}),
	}
	cmd.Flags().BoolVar(&o.Print, "print", false, "print the kubeconfig to stdout instead of merging it into yours")
	cmd.Flags().StringVar(&o.ContextName, "context-name", "", "name of the context, cluster and user to write (default kplex-NAME)")
	return cmd
}

// Run connects to virtual cluster name; target is the kubeconfig file to
// merge into, empty with --print.
func Run(ctx context.Context, h *host.Host, s output.Streams, name, target string, o Options) error {
	if o.ContextName == "" {
		o.ContextName = "kplex-" + name
	}
	tenant, err := tenantKubeconfig(ctx, h, name)
	if err != nil {
		return err
	}
	cluster, _, err := tenantContext(tenant)
	if err != nil {
		return err
	}
	var tun *tunnel
	endpoint, err := url.Parse(cluster.Server)
	if err != nil {
		return fmt.Errorf("virtual cluster %s: server %q: %w", name, cluster.Server, err)
	}
	svcNS, svcName, port, inCluster := inClusterService(ctx, h, name, endpoint)
	addr, exposed := "", false
	if inCluster {
		if cluster.TLSServerName == "" {
			// The serving certificate names the Service, not the address used.
			cluster.TLSServerName = endpoint.Hostname()
		}
		addr, exposed = exposedAddress(ctx, h, svcNS, svcName, port)
	}
	switch {
	case exposed:
		cluster.Server = "https://" + addr
		fmt.Fprintf(s.ErrOut, "%s is a name inside the host cluster: using Service %s/%s at %s\n", endpoint.Host, svcNS, svcName, addr)
	case inCluster:
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		start := func(ctx context.Context) (*forwarding, error) { return forward(ctx, h, svcNS, svcName, port, s.ErrOut) }
		if tun, err = openTunnel(fctx, start, s.ErrOut); err != nil {
			return fmt.Errorf("the API server of %s (%s) is reachable only inside the host cluster, and forwarding a port to it failed: %w", name, cluster.Server, err)
		}
		cluster.Server = "https://127.0.0.1:" + strconv.Itoa(tun.LocalPort())
	}
	in := mergeInput{Tenant: tenant, VirtualCluster: name, ContextName: o.ContextName, Host: &h.Raw, HostContext: h.Context}
	if o.Print {
		out := clientcmdapi.NewConfig()
		in.Host = nil
		if err := mergeContext(out, in, "the printed kubeconfig"); err != nil {
			return err
		}
		data, err := clientcmd.Write(*out)
		if err != nil {
			return fmt.Errorf("encode kubeconfig: %w", err)
		}
		if _, err := s.Out.Write(data); err != nil {
			return err
		}
	} else {
		cfg, err := loadForMerge(target)
		if err != nil {
			return err
		}
		if err := mergeContext(cfg, in, target); err != nil {
			return err
		}
		if err := writeKubeconfig(target, cfg); err != nil {
			return err
		}
		fmt.Fprintf(s.Out, "context %s added to %s and made current: kubectl now talks to virtual cluster %s (back to the host: kubectl config use-context %s)\n", o.ContextName, target, name, h.Context)
	}
	if tun == nil {
		return nil
	}
	fmt.Fprintf(s.ErrOut, "%s is reachable only inside the host cluster: forwarding 127.0.0.1:%d to pod %s/%s; the context works while this runs (Ctrl-C stops)\n",
		cluster.Server, tun.LocalPort(), v1alpha1.HostNamespace(name), tun.Pod())
	<-ctx.Done()
	return nil
}

// tenantKubeconfig reads the admin kubeconfig Secret named in the status.
func tenantKubeconfig(ctx context.Context, h *host.Host, name string) (*clientcmdapi.Config, error) {
	vc, err := h.VirtualCluster(ctx, name)
	if err != nil {
		return nil, err
	}
	ref := vc.Status.KubeconfigSecret
	if ref == nil || vc.Status.Phase != v1alpha1.PhaseReady {
		return nil, fmt.Errorf("virtual cluster %s is not ready (%s): kplex create --wait or kplex status %s", name, host.State(vc), name)
	}
	// The status names the Secret; only one in the cluster's own host
	// namespace is its kubeconfig (never, say, a kube-system Secret that the
	// admin running kplex may read).
	if want := v1alpha1.HostNamespace(name); ref.Namespace != want {
		return nil, fmt.Errorf("the status of %s names Secret %s/%s, outside its host namespace %s: refusing to read it", name, ref.Namespace, ref.Name, want)
	}
	secret := &corev1.Secret{}
	if err := h.Client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
		return nil, fmt.Errorf("read the kubeconfig of %s (Secret %s/%s): %w", name, ref.Namespace, ref.Name, h.Explain(err))
	}
	data := secret.Data[v1alpha1.KubeconfigSecretKey]
	if len(data) == 0 {
		return nil, fmt.Errorf("Secret %s/%s has no key %q: the operator has not published the kubeconfig of %s yet", ref.Namespace, ref.Name, v1alpha1.KubeconfigSecretKey, name)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of %s in Secret %s/%s: %w", name, ref.Namespace, ref.Name, err)
	}
	return sanitize(cfg, "Secret "+ref.Namespace+"/"+ref.Name)
}

// inClusterService says whether the endpoint is a Service address that only
// the host cluster's own network reaches, and which Service. It decides from
// the name and the Service objects: it never sends a probe, since a
// ClusterIP that this machine does not route would go to its default route.
//
// A cluster DNS name (<service>.<namespace>.svc[.cluster.local]) or the
// ClusterIP of a ClusterIP Service of the host namespace are in-cluster;
// anything else (a NodePort or LoadBalancer address) is used as it is.
func inClusterService(ctx context.Context, h *host.Host, name string, endpoint *url.URL) (namespace, service string, port int32, ok bool) {
	port = 443
	if p, err := strconv.Atoi(endpoint.Port()); err == nil {
		port = int32(p)
	}
	hostname := strings.TrimSuffix(endpoint.Hostname(), ".")
	if labels := strings.Split(hostname, "."); len(labels) >= 3 && labels[2] == "svc" {
		return labels[1], labels[0], port, true
	}
	if net.ParseIP(hostname) == nil {
		return "", "", 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	svcs := &corev1.ServiceList{}
	if err := h.Client.List(ctx, svcs, client.InNamespace(v1alpha1.HostNamespace(name))); err != nil {
		return "", "", 0, false
	}
	for _, svc := range svcs.Items {
		if svc.Spec.ClusterIP == hostname && svc.Spec.Type == corev1.ServiceTypeClusterIP {
			return svc.Namespace, svc.Name, port, true
		}
	}
	return "", "", 0, false
}

package connect

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/controlplane/kubeconfig"
)

// mergeInput is what mergeContext adds to a kubeconfig.
type mergeInput struct {
	// Tenant is the virtual cluster's kubeconfig (its current context is used).
	Tenant *clientcmdapi.Config
	// VirtualCluster is the cluster's name; ContextName the context to create.
	VirtualCluster, ContextName string
	// Host is the host's kubeconfig and HostContext the context kplex used:
	// copied along when the target file lacks it, so that kplex (which follows
	// the mark back to the host) and the user can switch back.
	Host        *clientcmdapi.Config
	HostContext string
}

// tenantContext returns the cluster and user of the tenant kubeconfig's
// current context (or its only context).
func tenantContext(cfg *clientcmdapi.Config) (*clientcmdapi.Cluster, *clientcmdapi.AuthInfo, error) {
	name := cfg.CurrentContext
	if name == "" && len(cfg.Contexts) == 1 {
		for n := range cfg.Contexts {
			name = n
		}
	}
	ctx := cfg.Contexts[name]
	if ctx == nil {
		return nil, nil, fmt.Errorf("the virtual cluster's kubeconfig has no current context")
	}
	cluster, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	if cluster == nil || user == nil {
		return nil, nil, fmt.Errorf("the virtual cluster's kubeconfig context %q lacks its cluster or user", name)
	}
	return cluster, user, nil
}

// mergeContext adds the tenant's cluster, user and context (all three named
// in.ContextName) to cfg and makes the context current. Every other entry is
// kept. A name already used by anything but an earlier `kplex connect` of the
// same virtual cluster is an error: kplex never overwrites a user's entry.
func mergeContext(cfg *clientcmdapi.Config, in mergeInput, file string) error {
	cluster, user, err := tenantContext(in.Tenant)
	if err != nil {
		return err
	}
	name := in.ContextName
	if old, ok := cfg.Contexts[name]; ok {
		if m, marked := host.MarkOf(old); !marked || m.VirtualCluster != in.VirtualCluster {
			return fmt.Errorf("context %q already exists in %s and was not made by kplex connect %s: choose another name with --context-name", name, file, in.VirtualCluster)
		}
	} else if cfg.Clusters[name] != nil || cfg.AuthInfos[name] != nil {
		return fmt.Errorf("a cluster or user named %q already exists in %s: choose another name with --context-name", name, file)
	}
	if in.HostContext == name {
		return fmt.Errorf("--context-name %q is the host's context: choose another name", name)
	}
	copyHostContext(cfg, in.Host, in.HostContext)
	ctx := clientcmdapi.NewContext()
	ctx.Cluster, ctx.AuthInfo = name, name
	host.SetMark(ctx, host.Mark{VirtualCluster: in.VirtualCluster, HostContext: in.HostContext})
	cfg.Clusters[name] = cluster.DeepCopy()
	cfg.AuthInfos[name] = user.DeepCopy()
	cfg.Contexts[name] = ctx
	cfg.CurrentContext = name
	return nil
}

// copyHostContext adds the host context and its cluster and user when the
// target file has none of the three names (the host came from another file,
// e.g. the devhost's). Entries of the same name are left as they are.
func copyHostContext(cfg, hostCfg *clientcmdapi.Config, name string) {
	if hostCfg == nil || cfg.Contexts[name] != nil {
		return
	}
	ctx := hostCfg.Contexts[name]
	if ctx == nil {
		return
	}
	cluster, user := hostCfg.Clusters[ctx.Cluster], hostCfg.AuthInfos[ctx.AuthInfo]
	if cluster == nil || user == nil {
		return
	}
	if old := cfg.Clusters[ctx.Cluster]; old != nil && !equality.Semantic.DeepEqual(old, cluster) {
		return
	}
	if old := cfg.AuthInfos[ctx.AuthInfo]; old != nil && !equality.Semantic.DeepEqual(old, user) {
		return
	}
	cfg.Clusters[ctx.Cluster] = cluster.DeepCopy()
	cfg.AuthInfos[ctx.AuthInfo] = user.DeepCopy()
	cfg.Contexts[name] = ctx.DeepCopy()
}

// loadForMerge reads file, or returns an empty config when it does not exist.
func loadForMerge(file string) (*clientcmdapi.Config, error) {
	cfg, err := clientcmd.LoadFromFile(file)
	if os.IsNotExist(err) {
		return clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", file, err)
	}
	return cfg, nil
}

// writeKubeconfig replaces file with cfg atomically (a reader never sees half
// a kubeconfig; a crash leaves the old one). A symlinked kubeconfig is
// written through, not replaced by a file.
func writeKubeconfig(file string, cfg *clientcmdapi.Config) error {
	if resolved, err := filepath.EvalSymlinks(file); err == nil {
		file = resolved
	}
	return kubeconfig.WriteConfig(file, cfg)
}

package host

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
)

// Host is a connection to the host cluster.
type Host struct {
	Config  *rest.Config
	Client  client.Client
	Scheme  *runtime.Scheme
	Context string              // the kubeconfig context in use, for messages
	Files   []string            // the kubeconfig files it came from, for messages
	Raw     clientcmdapi.Config // the merged kubeconfig, for kplex connect
}

// Server is the host API server's URL.
func (h *Host) Server() string { return h.Config.Host }

// NewScheme knows the kinds kplex reads and writes on the host.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	return s, nil
}

// Connect loads the kubeconfig and builds a client. It does not contact the
// host: the first request does.
func (o Options) Connect(env Env, log logr.Logger) (*Host, error) {
	rules := o.LoadingRules(env)
	files := rules.GetLoadingPrecedence()
	if rules.ExplicitPath != "" {
		files = []string{rules.ExplicitPath}
	}
	raw, err := rules.Load()
	if err != nil && strings.Contains(err.Error(), "permission denied") {
		return nil, fmt.Errorf("load kubeconfig %s: %w: run kplex as a user who may read it (the devhost's is root's: sudo kplex ...), or pass another with --kubeconfig", strings.Join(files, ":"), err)
	}
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w: fix the file or choose another with --kubeconfig", strings.Join(files, ":"), err)
	}
	name := o.Context
	if name == "" {
		name = raw.CurrentContext
		// After `kplex connect`, the current context is a tenant's: kplex
		// itself keeps talking to the host that tenant lives on.
		if m, ok := MarkOf(raw.Contexts[name]); ok && raw.Contexts[m.HostContext] != nil {
			log.V(1).Info("Current context is a virtual cluster; using its host context", "context", name, "hostContext", m.HostContext)
			name = m.HostContext
		}
	}
	if name == "" || len(raw.Contexts) == 0 {
		return nil, fmt.Errorf("no host cluster configured (no context in %s): pass --kubeconfig and --context, or set KUBECONFIG; on a devhost run sudo kplex-devhost up first", strings.Join(files, ":"))
	}
	if raw.Contexts[name] == nil {
		return nil, fmt.Errorf("context %q not found in %s: choose one of %s with --context", name, strings.Join(files, ":"), strings.Join(contextNames(raw), ", "))
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig context %q: %w", name, err)
	}
	cfg.UserAgent = "kplex"
	cfg.QPS, cfg.Burst = 50, 100
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("host client for %s: %w", cfg.Host, err)
	}
	return &Host{Config: cfg, Client: c, Scheme: scheme, Context: name, Files: files, Raw: *raw}, nil
}

func contextNames(c *clientcmdapi.Config) []string {
	names := make([]string, 0, len(c.Contexts))
	for n := range c.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

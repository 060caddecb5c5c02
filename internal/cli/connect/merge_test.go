package connect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/go-logr/logr/testr"
	"github.com/kplex-dev/kplex/internal/cli/host"
)

// kubeconfigWith returns a config with one context (and cluster and user) per name.
func kubeconfigWith(server string, names ...string) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	for _, n := range names {
		c := clientcmdapi.NewCluster()
		c.Server = server
		u := clientcmdapi.NewAuthInfo()
		u.Token = "token-" + n
		x := clientcmdapi.NewContext()
		x.Cluster, x.AuthInfo = n, n
		cfg.Clusters[n], cfg.AuthInfos[n], cfg.Contexts[n] = c, u, x
		cfg.CurrentContext = n
	}
	return cfg
}

func tenantInput(vc, ctxName string) mergeInput {
	return mergeInput{
		Tenant:         kubeconfigWith("https://tenant-"+vc+":6443", "kplex-"+vc),
		VirtualCluster: vc, ContextName: ctxName,
		Host: kubeconfigWith("https://host:6443", "host"), HostContext: "host",
	}
}

func TestMergeKeepsExistingEntries(t *testing.T) {
	cfg := kubeconfigWith("https://host:6443", "host", "other")
	if err := mergeContext(cfg, tenantInput("a", "kplex-a"), "f"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"host", "other", "kplex-a"} {
		if cfg.Contexts[n] == nil || cfg.Clusters[n] == nil || cfg.AuthInfos[n] == nil {
			t.Errorf("entry %s missing after merge", n)
		}
	}
	if cfg.AuthInfos["other"].Token != "token-other" {
		t.Errorf("existing user changed: %+v", cfg.AuthInfos["other"])
	}
	if cfg.CurrentContext != "kplex-a" {
		t.Errorf("current context %q, want kplex-a", cfg.CurrentContext)
	}
	if got := cfg.Clusters["kplex-a"].Server; got != "https://tenant-a:6443" {
		t.Errorf("tenant server %q", got)
	}
	m, ok := host.MarkOf(cfg.Contexts["kplex-a"])
	if !ok || m.VirtualCluster != "a" || m.HostContext != "host" {
		t.Errorf("mark %+v %v", m, ok)
	}
}

func TestMergeCollisions(t *testing.T) {
	for _, tc := range []struct {
		name, existing, want string
	}{
		{"user's own context", "kplex-a", "already exists in f and was not made by kplex connect a"},
		{"the host's context", "host", "already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kubeconfigWith("https://elsewhere:6443", tc.existing)
			before := cfg.DeepCopy()
			err := mergeContext(cfg, tenantInput("a", tc.existing), "f")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--context-name") {
				t.Fatalf("error %v, want one containing %q and naming --context-name", err, tc.want)
			}
			if cfg.Clusters[tc.existing].Server != before.Clusters[tc.existing].Server {
				t.Error("existing entry overwritten")
			}
		})
	}
	t.Run("cluster entry of the same name", func(t *testing.T) {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["kplex-a"] = clientcmdapi.NewCluster()
		if err := mergeContext(cfg, tenantInput("a", "kplex-a"), "f"); err == nil || !strings.Contains(err.Error(), "a cluster or user named") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("context of another virtual cluster", func(t *testing.T) {
		cfg := clientcmdapi.NewConfig()
		if err := mergeContext(cfg, tenantInput("b", "shared"), "f"); err != nil {
			t.Fatal(err)
		}
		if err := mergeContext(cfg, tenantInput("a", "shared"), "f"); err == nil || !strings.Contains(err.Error(), "not made by kplex connect a") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestMergeAgainReplacesOwnContext(t *testing.T) {
	cfg := kubeconfigWith("https://host:6443", "host")
	if err := mergeContext(cfg, tenantInput("a", "kplex-a"), "f"); err != nil {
		t.Fatal(err)
	}
	in := tenantInput("a", "kplex-a")
	in.Tenant.Clusters["kplex-a"].Server = "https://127.0.0.1:40000"
	if err := mergeContext(cfg, in, "f"); err != nil {
		t.Fatalf("second connect: %v", err)
	}
	if got := cfg.Clusters["kplex-a"].Server; got != "https://127.0.0.1:40000" {
		t.Errorf("server %q after reconnect", got)
	}
	if len(cfg.Contexts) != 2 {
		t.Errorf("contexts %v", cfg.Contexts)
	}
}

func TestMergeCopiesHostContextFromAnotherFile(t *testing.T) {
	cfg := clientcmdapi.NewConfig() // e.g. a new ~/.kube/config while the host came from the devhost's file
	if err := mergeContext(cfg, tenantInput("a", "kplex-a"), "f"); err != nil {
		t.Fatal(err)
	}
	if cfg.Contexts["host"] == nil || cfg.Clusters["host"].Server != "https://host:6443" || cfg.AuthInfos["host"].Token != "token-host" {
		t.Fatalf("host context not copied: %+v", cfg.Contexts)
	}
}

// The mark must survive the file: kplex reads it back to find the host.
func TestMarkSurvivesFileAndHostFollowsIt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "config")
	cfg, err := loadForMerge(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := mergeContext(cfg, tenantInput("a", "kplex-a"), file); err != nil {
		t.Fatal(err)
	}
	if err := writeKubeconfig(file, cfg); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("stat %v %v", st, err)
	}
	back, err := clientcmd.LoadFromFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := host.MarkOf(back.Contexts["kplex-a"]); !ok || m.HostContext != "host" {
		t.Fatalf("mark lost in file: %+v %v", m, ok)
	}
	h, err := host.Options{Kubeconfig: file}.Connect(host.Env{}, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	if h.Context != "host" || h.Server() != "https://host:6443" {
		t.Errorf("kplex with a tenant context current uses %s (%s), want the host", h.Context, h.Server())
	}
	h, err = host.Options{Kubeconfig: file, Context: "kplex-a"}.Connect(host.Env{}, testr.New(t))
	if err != nil || h.Context != "kplex-a" {
		t.Errorf("explicit --context not honoured: %v %v", h, err)
	}
}

func TestWriteThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.WriteFile(real, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := writeKubeconfig(link, kubeconfigWith("https://x", "x")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("symlink replaced by a file")
	}
	if cfg, err := clientcmd.LoadFromFile(real); err != nil || cfg.Contexts["x"] == nil {
		t.Fatalf("target not written: %v", err)
	}
}

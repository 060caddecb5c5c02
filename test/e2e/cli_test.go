package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/testenv"
)

// kplexBinary is kplex in $KPLEX_BIN, else bin/kplex of this repository.
func kplexBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KPLEX_BIN")
	if dir == "" {
		dir = filepath.Join("..", "..", "bin")
	}
	p, err := filepath.Abs(filepath.Join(dir, "kplex"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not built: run make build first", p)
	}
	return p
}

// kplexOn runs the kplex binary, as a user would, against a devhost.
type kplexOn struct {
	bin, kubeconfig string
}

func (k kplexOn) run(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("kplex %s (%s):\n%s", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond), out.String())
	return out.String(), err
}

func (k kplexOn) ok(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	out, err := k.run(t, timeout, args...)
	if err != nil {
		t.Fatalf("kplex %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TestE2ECLI drives the kplex binary on a devhost: install, two virtual
// clusters, a client through kplex connect, a workload, and a delete that
// leaves nothing of its cluster and does not touch the other.
func TestE2ECLI(t *testing.T) {
	kplex := kplexOn{bin: kplexBinary(t)}
	env := startDevhost(t)
	kplex.kubeconfig = filepath.Join(env.dataDir, "kubeconfig")
	ctx := context.Background()

	out := kplex.ok(t, 4*time.Minute, "install")
	if !strings.Contains(out, "kplex installed") {
		t.Fatalf("install did not finish: %s", out)
	}
	kplex.ok(t, time.Minute, "install") // idempotent, operator already available
	// a keeps the default ClusterIP exposure (kplex connect port-forwards),
	// b is exposed on a NodePort (kplex connect uses it directly).
	for _, c := range []struct{ name, expose string }{{"a", "ClusterIP"}, {"b", "NodePort"}} {
		name := c.name
		start := time.Now()
		out := kplex.ok(t, 5*time.Minute, "create", name, "--wait", "--expose", c.expose)
		if !strings.Contains(out, "virtualcluster "+name+" is Ready") {
			t.Fatalf("create %s --wait: %s", name, out)
		}
		t.Logf("kplex create %s --wait: Ready in %s", name, time.Since(start).Round(100*time.Millisecond))
	}
	list := kplex.ok(t, time.Minute, "list")
	for _, name := range []string{"a", "b"} {
		if !strings.Contains(list, "kplex-"+name) {
			t.Errorf("list lacks %s:\n%s", name, list)
		}
	}
	if out, err := kplex.run(t, time.Minute, "create", strings.Repeat("x", 60)); err == nil || !strings.Contains(out, "metadata.name must be at most 57 characters") {
		t.Errorf("a bad name was not refused with the field named: %v %s", err, out)
	}

	clients := map[string]kubernetes.Interface{}
	for _, name := range []string{"a", "b"} {
		cfg, stop, err := testenv.KplexConnect(ctx, kplex.bin, name, "--kubeconfig", kplex.kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		clients[name] = kubernetes.NewForConfigOrDie(cfg)
	}
	t.Run("a client through kplex connect works and runs a workload", func(t *testing.T) {
		a := clients["a"]
		if _, err := a.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.CoreV1().Pods("shop").Create(ctx, testenv.WebPod("web", "hello from a"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "tenant a's pod shop/web Running", 3*time.Minute, func(ctx context.Context) (bool, error) {
			p, err := a.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodRunning, err
		})
		if _, err := clients["b"].CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{}); err == nil {
			t.Error("tenant b sees tenant a's namespace shop")
		}
		st := kplex.ok(t, time.Minute, "status", "a")
		if !strings.Contains(st, "Phase:          Ready") || !strings.Contains(st, "Running") {
			t.Errorf("status a:\n%s", st)
		}
	})

	t.Run("connect merges a context that reaches a NodePort directly", func(t *testing.T) {
		// A user's kubeconfig: a copy of the devhost's, which kplex connect extends.
		data, err := os.ReadFile(kplex.kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		own := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(own, data, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := testenv.StartKplexConnect(ctx, kplex.bin, "--kubeconfig", own, "connect", "b")
		if err != nil {
			t.Fatal(err)
		}
		defer p.Stop()
		if out := string(p.Stdout()); !strings.Contains(out, "context kplex-b added to "+own) {
			t.Errorf("connect output %q", out)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", own) // its current context is now kplex-b
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(cfg.Host, "https://10.213.0.2:") || cfg.TLSClientConfig.ServerName != "kplex-apiserver.kplex-b.svc" {
			t.Errorf("merged context: server %s, tls-server-name %q", cfg.Host, cfg.TLSClientConfig.ServerName)
		}
		nss, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("client of the merged context: %v", err)
		}
		for _, n := range nss.Items {
			if n.Name == "shop" {
				t.Error("tenant b's context sees tenant a's namespace shop")
			}
		}
		// kplex itself keeps talking to the host while kplex-b is current.
		if out := kplex.ok(t, time.Minute, "--kubeconfig", own, "list"); !strings.Contains(out, "kplex-a") {
			t.Errorf("list with a tenant context current:\n%s", out)
		}
		if out := kplex.ok(t, time.Minute, "version"); !strings.Contains(out, "operator: running") || !strings.Contains(out, "Kubernetes v1.37.2") {
			t.Errorf("version:\n%s", out)
		}
	})

	t.Run("delete a --wait leaves nothing of a and b untouched", func(t *testing.T) {
		bBefore := hostObjectsOf(ctx, t, env, "b")
		out := kplex.ok(t, 5*time.Minute, "delete", "a", "--wait")
		if !strings.Contains(out, "host namespace kplex-a is gone") {
			t.Fatalf("delete --wait: %s", out)
		}
		if left := hostObjectsOf(ctx, t, env, "a"); len(left) > 0 {
			t.Errorf("host objects of a left after delete: %v", left)
		}
		if bAfter := hostObjectsOf(ctx, t, env, "b"); strings.Join(bAfter, ",") != strings.Join(bBefore, ",") {
			t.Errorf("b's host objects changed:\nbefore %v\nafter  %v", bBefore, bAfter)
		}
		if _, err := clients["b"].CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("tenant b's client after a was deleted: %v", err)
		}
		if out, err := kplex.run(t, time.Minute, "status", "a"); err == nil || !strings.Contains(out, `no virtual cluster "a"`) {
			t.Errorf("status of a deleted cluster: %v %s", err, out)
		}
		kplex.ok(t, 5*time.Minute, "delete", "b", "--wait")
	})
}

// hostObjectsOf lists what the host holds for virtual cluster name: its host
// namespace and what is in it, the cluster-scoped objects labelled for it and
// the volumes claimed from its namespace.
func hostObjectsOf(ctx context.Context, t *testing.T, env *devhostEnv, name string) []string {
	t.Helper()
	ns := v1alpha1.HostNamespace(name)
	var found []string
	if _, err := env.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
		found = append(found, "namespace/"+ns)
	}
	pods, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		found = append(found, "pod/"+p.Name)
	}
	crbs, err := env.client.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: "kplex.dev/tenant=" + name})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range crbs.Items {
		found = append(found, "clusterrolebinding/"+b.Name)
	}
	pvs, err := env.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pv := range pvs.Items {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == ns {
			found = append(found, "persistentvolume/"+pv.Name)
		}
	}
	return found
}

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/root"
	"github.com/kplex-dev/kplex/internal/controlplane/pki"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/testenv"
)

// kplexCLI runs the kplex command line in-process against one host kubeconfig.
type kplexCLI struct{ kubeconfig string }

type cliResult struct {
	out, errOut string
	err         error
}

func (c kplexCLI) run(ctx context.Context, t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	err := root.Run(ctx, append([]string{"--kubeconfig", c.kubeconfig}, args...), &out, &errOut)
	t.Logf("kplex %s\n%s%s(err %v)", strings.Join(args, " "), out.String(), errOut.String(), err)
	return cliResult{out.String(), errOut.String(), err}
}

// ok runs a command that must succeed and returns its stdout.
func (c kplexCLI) ok(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	r := c.run(ctx, t, args...)
	if r.err != nil {
		t.Fatalf("kplex %s: %v", strings.Join(args, " "), r.err)
	}
	return r.out
}

// fails runs a command that must fail with an error containing every want.
func (c kplexCLI) fails(ctx context.Context, t *testing.T, args []string, want ...string) {
	t.Helper()
	r := c.run(ctx, t, args...)
	if r.err == nil {
		t.Fatalf("kplex %s succeeded, want an error", strings.Join(args, " "))
	}
	for _, w := range want {
		if !strings.Contains(r.err.Error(), w) {
			t.Errorf("kplex %s: error %q does not say %q", strings.Join(args, " "), r.err, w)
		}
	}
}

// writeKubeconfig writes a kubeconfig with one context for a client certificate.
func writeKubeconfig(t *testing.T, path, server, caFile string, cert, key []byte) {
	t.Helper()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["h"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["h"] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["h"] = &clientcmdapi.Context{Cluster: "h", AuthInfo: "h"}
	cfg.CurrentContext = "h"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

// The kplex CLI against a real host API server (host profile: no kubelet, so
// the operator never runs and virtual clusters stay Pending).
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cp := testenv.NewControlPlane(t, "--profile", "host")
	cp.Start(ctx)
	// A copy of the admin kubeconfig: connect writes into it.
	adminData, err := os.ReadFile(cp.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "config")
	if err := os.WriteFile(kubeconfig, adminData, 0o600); err != nil {
		t.Fatal(err)
	}
	cli := kplexCLI{kubeconfig: kubeconfig}
	scheme, err := host.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(cp.RESTConfig(), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("before install, commands say to run kplex install", func(t *testing.T) {
		cli.fails(ctx, t, []string{"list"}, "kplex is not installed", "run kplex install")
		cli.fails(ctx, t, []string{"create", "a"}, "kplex is not installed", "run kplex install")
		cli.fails(ctx, t, []string{"status", "a"}, "kplex is not installed", "run kplex install")
	})

	t.Run("install is idempotent", func(t *testing.T) {
		r := cli.run(ctx, t, "install", "--wait=false")
		if r.err != nil {
			t.Fatal(r.err)
		}
		for _, w := range []string{"applied CustomResourceDefinition virtualclusters.kplex.dev", "applied Deployment kplex-system/kplex-operator", "VirtualCluster API served", "s] "} {
			if !strings.Contains(r.errOut, w) {
				t.Errorf("install progress lacks %q", w)
			}
		}
		before := resourceVersions(ctx, t, admin)
		cli.ok(ctx, t, "install", "--wait=false")
		if after := resourceVersions(ctx, t, admin); !equalMaps(before, after) {
			t.Errorf("second install changed objects:\nbefore %v\nafter  %v", before, after)
		}
		// A different image is an update of the same objects, not an error.
		cli.ok(ctx, t, "install", "--wait=false", "--image", "localhost/kplex/kplexd:other")
		d := &unstructured.Unstructured{}
		d.SetAPIVersion("apps/v1")
		d.SetKind("Deployment")
		if err := admin.Get(ctx, client.ObjectKey{Namespace: install.Namespace, Name: install.OperatorName}, d); err != nil {
			t.Fatal(err)
		}
		if img, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers"); !strings.Contains(fmtJSON(img), "kplexd:other") {
			t.Errorf("image not updated: %s", fmtJSON(img))
		}
		cli.ok(ctx, t, "install", "--wait=false")
	})

	t.Run("install waits for the operator and says why it is not available", func(t *testing.T) {
		cli.fails(ctx, t, []string{"install", "--timeout", "3s"}, "operator kplex-system/kplex-operator not available after 3s (no pod yet", "describe pods")
	})

	t.Run("create list status round trip", func(t *testing.T) {
		out := cli.ok(ctx, t, "create", "a", "--expose", "NodePort", "--storage-size", "2Gi")
		if !strings.Contains(out, "virtualcluster a created (host namespace kplex-a)") {
			t.Errorf("create output %q", out)
		}
		vc := &v1alpha1.VirtualCluster{}
		if err := admin.Get(ctx, client.ObjectKey{Name: "a"}, vc); err != nil {
			t.Fatal(err)
		}
		if size := vc.Spec.Datastore.EmbeddedSize(); vc.Spec.Expose.Type != v1alpha1.ExposeNodePort || size.String() != "2Gi" {
			t.Errorf("spec %+v", vc.Spec)
		}
		cli.fails(ctx, t, []string{"create", "a"}, `virtual cluster "a" already exists`, "kplex delete a")

		table := cli.ok(ctx, t, "list")
		lines := strings.Split(strings.TrimSpace(table), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "a ") || !strings.Contains(lines[1], "Pending") || !strings.Contains(lines[1], "kplex-a") {
			t.Errorf("list table:\n%s", table)
		}
		var l v1alpha1.VirtualClusterList
		if err := json.Unmarshal([]byte(cli.ok(ctx, t, "list", "-o", "json")), &l); err != nil || len(l.Items) != 1 || l.Items[0].Name != "a" || l.Kind != "VirtualClusterList" || l.Items[0].APIVersion != "kplex.dev/v1alpha1" {
			t.Errorf("list -o json: %v %+v", err, l)
		}
		l = v1alpha1.VirtualClusterList{}
		if err := yaml.Unmarshal([]byte(cli.ok(ctx, t, "list", "-o", "yaml")), &l); err != nil || len(l.Items) != 1 || l.Items[0].ManagedFields != nil {
			t.Errorf("list -o yaml: %v %+v", err, l)
		}
		cli.fails(ctx, t, []string{"list", "-o", "wide"}, `unknown output format "wide"`)

		st := cli.ok(ctx, t, "status", "a")
		for _, w := range []string{"Name:           a", "Phase:          Pending (not yet seen by the operator)", "Host namespace: kplex-a", "expose NodePort, datastore embedded 2Gi, pod security restricted", "is the operator running?", "Pods in host namespace kplex-a:"} {
			if !strings.Contains(st, w) {
				t.Errorf("status lacks %q:\n%s", w, st)
			}
		}
		cli.fails(ctx, t, []string{"status", "nope"}, `no virtual cluster "nope"`, "kplex list")
		cli.fails(ctx, t, []string{"connect", "a"}, "virtual cluster a is not ready", "kplex status a")
	})

	t.Run("bad input is refused with the field named", func(t *testing.T) {
		cli.fails(ctx, t, []string{"create", "c", "--expose", "Ingress"}, `--expose "Ingress"`)
		cli.fails(ctx, t, []string{"create", "Not_A_Name"}, "the host refused the virtual cluster", "metadata.name")
		cli.fails(ctx, t, []string{"create"}, "needs exactly one virtual cluster NAME")
	})

	t.Run("create --wait times out and blames the missing operator", func(t *testing.T) {
		start := time.Now()
		r := cli.run(ctx, t, "create", "b", "--wait", "--timeout", "3s")
		if r.err == nil || !strings.Contains(r.err.Error(), "virtual cluster b not Ready after 3s") || !strings.Contains(r.err.Error(), "the kplex operator is not running") {
			t.Errorf("error %v", r.err)
		}
		if !strings.Contains(r.errOut, "Pending (not yet seen by the operator)") {
			t.Errorf("no progress line: %q", r.errOut)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("timeout of 3s took %s", d)
		}
	})

	t.Run("connect merges a working context", func(t *testing.T) {
		// Play the operator: publish a kubeconfig (here the host's own admin
		// kubeconfig, so that a client can use it) and mark a Ready.
		publishKubeconfig(ctx, t, admin, "a", adminData)
		other := filepath.Join(dir, "other")
		own := kplexCLI{kubeconfig: other}
		writeKubeconfig(t, other, cp.URL(), filepath.Join(cp.DataDir, "pki", "ca.crt"), nil, nil)
		// The file's own entries must survive; its context h reaches the host.
		cfg, _ := clientcmd.LoadFromFile(other)
		cfg.AuthInfos["h"] = clientcmdapi.NewAuthInfo()
		cfg.AuthInfos["h"].ClientCertificate, cfg.AuthInfos["h"].ClientKey = filepath.Join(cp.DataDir, "pki", "admin.crt"), filepath.Join(cp.DataDir, "pki", "admin.key")
		if err := clientcmd.WriteToFile(*cfg, other); err != nil {
			t.Fatal(err)
		}
		out := own.ok(ctx, t, "connect", "a")
		if !strings.Contains(out, "context kplex-a added to "+other) {
			t.Errorf("connect output %q", out)
		}
		merged, err := clientcmd.LoadFromFile(other)
		if err != nil {
			t.Fatal(err)
		}
		if merged.CurrentContext != "kplex-a" || merged.Contexts["h"] == nil || merged.AuthInfos["h"].ClientCertificate == "" {
			t.Fatalf("merged kubeconfig lost entries: %+v", merged)
		}
		rc, err := clientcmd.NewDefaultClientConfig(*merged, nil).ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kubernetes.NewForConfigOrDie(rc).CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
			t.Errorf("client of the merged context: %v", err)
		}
		// kplex itself still talks to the host while kplex-a is current.
		if !strings.Contains(own.ok(ctx, t, "list"), "kplex-a") {
			t.Error("list after connect")
		}
		own.ok(ctx, t, "connect", "a") // again: replaces its own context
		own.fails(ctx, t, []string{"connect", "a", "--context-name", "h"}, `context "h" already exists`, "--context-name")

		printed := cli.ok(ctx, t, "connect", "a", "--print", "--context-name", "tenant-a")
		pc, err := clientcmd.Load([]byte(printed))
		if err != nil || pc.CurrentContext != "tenant-a" || len(pc.Contexts) != 1 {
			t.Fatalf("printed kubeconfig: %v\n%s", err, printed)
		}

		// Whoever writes the Secret must not get a command run on the admin's
		// machine, nor a status make kplex read another namespace's Secret.
		hostile := &corev1.Secret{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: "kplex-a", Name: install.KubeconfigSecret}, hostile); err != nil {
			t.Fatal(err)
		}
		kc, _ := clientcmd.Load(hostile.Data[v1alpha1.KubeconfigSecretKey])
		for _, u := range kc.AuthInfos {
			u.Exec = &clientcmdapi.ExecConfig{Command: "touch", Args: []string{filepath.Join(dir, "pwned")}, APIVersion: "client.authentication.k8s.io/v1"}
		}
		hostile.Data[v1alpha1.KubeconfigSecretKey], _ = clientcmd.Write(*kc)
		if err := admin.Update(ctx, hostile); err != nil {
			t.Fatal(err)
		}
		own.fails(ctx, t, []string{"connect", "a"}, "refusing the kubeconfig in Secret kplex-a/kplex-kubeconfig", "exec credential plugin")
		vc := &v1alpha1.VirtualCluster{}
		if err := admin.Get(ctx, client.ObjectKey{Name: "a"}, vc); err != nil {
			t.Fatal(err)
		}
		vc.Status.KubeconfigSecret = &v1alpha1.SecretReference{Namespace: "kube-system", Name: "anything"}
		if err := admin.Status().Update(ctx, vc); err != nil {
			t.Fatal(err)
		}
		own.fails(ctx, t, []string{"connect", "a", "--print"}, "names Secret kube-system/anything, outside its host namespace kplex-a")
	})

	t.Run("delete", func(t *testing.T) {
		cli.fails(ctx, t, []string{"delete", "nope"}, `no virtual cluster "nope"`)
		if out := cli.ok(ctx, t, "delete", "a"); !strings.Contains(out, "virtualcluster a deletion requested") {
			t.Errorf("delete output %q", out)
		}
		if out := cli.ok(ctx, t, "delete", "b", "--wait", "--timeout", "30s"); !strings.Contains(out, "host namespace kplex-b is gone") {
			t.Errorf("delete --wait output %q", out)
		}
		l := &v1alpha1.VirtualClusterList{}
		if err := admin.List(ctx, l); err != nil || len(l.Items) != 0 {
			t.Errorf("left after delete: %v %+v", err, l.Items)
		}
	})

	t.Run("a user without rights is told what is not allowed", func(t *testing.T) {
		cert, key, err := pki.SignClient(&pki.Bundle{Dir: filepath.Join(cp.DataDir, "pki")}, "nobody", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "nobody")
		writeKubeconfig(t, path, cp.URL(), filepath.Join(cp.DataDir, "pki", "ca.crt"), cert, key)
		nobody := kplexCLI{kubeconfig: path}
		nobody.fails(ctx, t, []string{"list"}, "not allowed on host", `User "nobody" cannot list resource "virtualclusters"`)
		nobody.fails(ctx, t, []string{"create", "x"}, "not allowed on host", `cannot create resource "virtualclusters"`)
		nobody.fails(ctx, t, []string{"install", "--wait=false"}, "not allowed on host", `cannot patch resource "customresourcedefinitions"`)
	})

	t.Run("an unreachable host is named", func(t *testing.T) {
		path := filepath.Join(dir, "dead")
		down := "https://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
		writeKubeconfig(t, path, down, filepath.Join(cp.DataDir, "pki", "ca.crt"), nil, nil)
		dead := kplexCLI{kubeconfig: path}
		dead.fails(ctx, t, []string{"list"}, "cannot reach the host API server "+down, "connection refused", "--kubeconfig")
	})
}

// publishKubeconfig does what the operator does when a virtual cluster is Ready.
func publishKubeconfig(ctx context.Context, t *testing.T, c client.Client, name string, kubeconfig []byte) {
	t.Helper()
	ns := v1alpha1.HostNamespace(name)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: install.KubeconfigSecret},
		Data: map[string][]byte{v1alpha1.KubeconfigSecretKey: kubeconfig}}); err != nil {
		t.Fatal(err)
	}
	vc := &v1alpha1.VirtualCluster{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, vc); err != nil {
		t.Fatal(err)
	}
	vc.Status = v1alpha1.VirtualClusterStatus{Phase: v1alpha1.PhaseReady, ObservedGeneration: vc.Generation, HostNamespace: ns,
		KubeconfigSecret: &v1alpha1.SecretReference{Namespace: ns, Name: install.KubeconfigSecret}}
	if err := c.Status().Update(ctx, vc); err != nil {
		t.Fatal(err)
	}
}

// resourceVersions of every object kplex install applies.
func resourceVersions(ctx context.Context, t *testing.T, c client.Client) map[string]string {
	t.Helper()
	objs, err := install.Objects(install.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rv := map[string]string{}
	for _, o := range objs {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(o.GetObjectKind().GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), u); err != nil {
			t.Fatalf("get %s: %v", o.GetName(), err)
		}
		rv[u.GetKind()+"/"+u.GetNamespace()+"/"+u.GetName()] = u.GetResourceVersion()
	}
	return rv
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func fmtJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kplex-dev/kplex/internal/podsecurity"
	"github.com/kplex-dev/kplex/internal/testenv"
	"github.com/kplex-dev/kplex/internal/translate"
)

// TestE2EKubeletProxy runs a tenant's kplexd (control plane, syncer, kubelet proxy) on the
// machine against the devhost: `kubectl logs` and `exec` in the virtual cluster reach the
// container on the real node, and another tenant's pod on that node stays out of reach.
func TestE2EKubeletProxy(t *testing.T) {
	env := startDevhost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const hostNS = "kplex-e2e"
	if _, err := env.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hostNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "default service account in "+hostNS, time.Minute, func(ctx context.Context) (bool, error) {
		_, err := env.client.CoreV1().ServiceAccounts(hostNS).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})

	// The tenant's kplexd, on the machine's side of the veth. (The syncer's exact host
	// rights are covered by the integration tests; here it uses the devhost's admin.)
	vc := testenv.NewControlPlane(t, "--host-kubeconfig", filepath.Join(env.dataDir, "kubeconfig"), "--host-namespace", hostNS)
	vc.Start(ctx)
	vcfg := vc.RESTConfig()
	virtual := vc.Client()
	tr, err := translate.New(translate.Tenant{Name: "test", HostNamespace: hostNS}) // testenv names every cluster "test"
	if err != nil {
		t.Fatal(err)
	}

	if _, err := virtual.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "default service account in virtual namespace app", time.Minute, func(ctx context.Context) (bool, error) {
		_, err := virtual.CoreV1().ServiceAccounts("app").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			testboxContainer("main", "sh", "-c", "echo hello from the tenant; exec sleep 3600"),
		}},
	}
	podsecurity.Restrict(&pod.Spec) // the virtual cluster admits restricted pods only
	if _, err := virtual.CoreV1().Pods("app").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another tenant's pod on the same node, in the same host namespace.
	other := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "other-tenant-secret", Labels: map[string]string{translate.LabelManagedBy: "other"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{testboxContainer("main", "sh", "-c", "echo other tenant secret; exec sleep 3600")}},
	}
	if _, err := env.client.CoreV1().Pods(hostNS).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var node string
	waitFor(t, "virtual pod running on a node", 3*time.Minute, func(ctx context.Context) (bool, error) {
		p, err := virtual.CoreV1().Pods("app").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		node = p.Spec.NodeName
		return p.Status.Phase == corev1.PodRunning && node != "", nil
	})
	waitFor(t, "virtual node "+node, time.Minute, func(ctx context.Context) (bool, error) {
		n, err := virtual.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		return err == nil && len(n.Status.Addresses) == 1 && n.Status.Addresses[0].Address == "127.0.0.1", err
	})

	t.Run("logs", func(t *testing.T) {
		waitFor(t, "logs through the virtual cluster", time.Minute, func(ctx context.Context) (bool, error) {
			out, err := virtual.CoreV1().Pods("app").GetLogs("hello", &corev1.PodLogOptions{}).DoRaw(ctx)
			return strings.Contains(string(out), "hello from the tenant"), err
		})
	})

	t.Run("exec over websockets and SPDY", func(t *testing.T) {
		for _, websocket := range []bool{true, false} {
			out, err := virtualExec(ctx, vcfg, virtual, "app", "hello", websocket, "sh", "-c", "echo from inside $(hostname)")
			if err != nil || strings.TrimSpace(out) != "from inside hello" {
				t.Errorf("exec (websocket %v): %q %v", websocket, out, err)
			}
		}
	})

	t.Run("kubectl logs and exec", func(t *testing.T) {
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			t.Skip("no kubectl on this machine; the client-go subtests cover the same path")
		}
		run := func(args ...string) string {
			args = append([]string{"--kubeconfig", vc.Kubeconfig(), "-n", "app"}, args...)
			out, err := exec.CommandContext(ctx, kubectl, args...).CombinedOutput()
			if err != nil {
				t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		if out := run("logs", "hello"); !strings.Contains(out, "hello from the tenant") {
			t.Errorf("kubectl logs: %q", out)
		}
		if out := run("exec", "hello", "--", "cat", "/etc/hostname"); strings.TrimSpace(out) != "hello" {
			t.Errorf("kubectl exec: %q", out)
		}
	})

	t.Run("another tenant's pod and other kubelet paths are refused", func(t *testing.T) {
		// The virtual API server's node proxy does not even reach the kubelet proxy: the
		// node's address is loopback, which it refuses.
		res := virtual.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/" + node + "/proxy/pods").Do(ctx)
		var code int
		res.StatusCode(&code)
		if code == http.StatusOK {
			t.Errorf("node proxy reached a kubelet: HTTP %d", code)
		}
		// Called directly with the virtual API server's own kubelet client certificate.
		n, err := virtual.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		base := fmt.Sprintf("https://127.0.0.1:%d/", n.Status.DaemonEndpoints.KubeletEndpoint.Port)
		pkiDir := filepath.Join(vc.DataDir, "pki")
		cert, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, "apiserver-kubelet-client.crt"), filepath.Join(pkiDir, "apiserver-kubelet-client.key"))
		if err != nil {
			t.Fatal(err)
		}
		caPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(caPEM)
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}}
		get := func(path string) (int, string) {
			resp, err := c.Get(base + path)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := get("containerLogs/app/hello/main"); code != http.StatusOK || !strings.Contains(body, "hello from the tenant") {
			t.Errorf("the tenant's own pod: HTTP %d %q", code, body)
		}
		for _, path := range []string{
			"containerLogs/" + hostNS + "/" + other.Name + "/main",
			"pods",
			"runningpods/",
			"stats/summary",
			"metrics",
			"configz",
			"containerLogs/app/hello/../../../pods",
		} {
			if code, body := get(path); code != http.StatusForbidden || strings.Contains(body, "other tenant secret") {
				t.Errorf("%s: HTTP %d %q, want 403", path, code, body)
			}
		}
		if tr.IsOwned(other) {
			t.Fatal("the other tenant's pod counts as this tenant's")
		}
	})

	if _, err := vc.Terminate(20 * time.Second); err != nil {
		t.Errorf("%v\n%s", err, vc.LogTail())
	}
	if t.Failed() {
		_ = os.WriteFile(filepath.Join(env.dataDir, "logs", "kplexd-tenant.log"), []byte(vc.LogTail()), 0o600)
	}
}

// virtualExec runs command in a pod's first container through cfg's API server, over
// websockets or SPDY, and returns its stdout.
func virtualExec(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, pod string, websocket bool, command ...string) (string, error) {
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	var ex remotecommand.Executor
	var err error
	if websocket {
		ex, err = remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, req.URL().String())
	} else {
		ex, err = remotecommand.NewSPDYExecutor(cfg, http.MethodPost, req.URL())
	}
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		return stdout.String(), err
	}
	return stdout.String(), nil
}

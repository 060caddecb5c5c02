package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/controlplane/pki"
	"github.com/kplex-dev/kplex/internal/kubeletproxy"
	"github.com/kplex-dev/kplex/internal/translate"
)

// hostKubelet plays the host node's kubelet: it records what the host API server asks.
type hostKubelet struct {
	mu   sync.Mutex
	seen []string
}

func (k *hostKubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.seen = append(k.seen, r.Method+" "+r.URL.RequestURI())
	k.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/containerLogs/") {
		fmt.Fprintln(w, "hello from the host kubelet")
		return
	}
	http.Error(w, "this kubelet runs no containers", http.StatusBadRequest)
}

func (k *hostKubelet) requests() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.seen...)
}

// TestKubeletProxy: the virtual API server's pod logs and exec reach the host pod's
// subresources through the kubelet proxy, for the tenant's synced pods only; everything
// else is refused.
func TestKubeletProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := newSyncEnv(ctx, t)

	// The kubelet proxy, as kplexd runs it, with the syncer's exact host rights.
	cert, cas, err := kubeletproxy.TLSFromPKI(&pki.Bundle{Dir: filepath.Join(e.virtual.DataDir, "pki")}, net.ParseIP("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := kubeletproxy.New(kubeletproxy.Options{Virtual: e.virtualCfg, Host: e.hostCfg, Translator: e.tr,
		ClientCAs: cas, Certificate: cert, Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stopProxy := context.WithCancel(ctx)
	proxyDone := make(chan error, 1)
	go func() { proxyDone <- proxy.Serve(pctx, l) }()
	t.Cleanup(func() {
		stopProxy()
		if err := <-proxyDone; err != nil {
			t.Errorf("kubelet proxy: %v", err)
		}
	})
	e.shutdown(t)
	e.kubeletPort = int32(l.Addr().(*net.TCPAddr).Port)
	e.start()

	// The host node's kubelet.
	kubelet := &hostKubelet{}
	ks := httptest.NewTLSServer(kubelet)
	defer ks.Close()
	createHostNode(ctx, t, e, "worker-k")
	eventually(ctx, t, "host node kubelet address", func(ctx context.Context) (bool, error) {
		n, err := e.hostAdmin.CoreV1().Nodes().Get(ctx, "worker-k", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
		n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(ks.Listener.Addr().(*net.TCPAddr).Port)
		_, err = e.hostAdmin.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err == nil, err
	})

	mustNamespace(ctx, t, e.vAdmin, "edge")
	waitServiceAccount(ctx, t, e.vAdmin, "edge")
	// "spoof" has the host name of another tenant's pod, which the syncer never touches.
	spoofHost := e.tr.HostName("edge", "spoof")
	if _, err := e.hostAdmin.CoreV1().Pods(hostNS).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: spoofHost, Labels: map[string]string{translate.LabelManagedBy: "other"}},
		Spec:       corev1.PodSpec{NodeName: "worker-k", Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"api", "spoof"} {
		if _, err := e.vAdmin.CoreV1().Pods("edge").Create(ctx, testPod("edge", name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bindHostPod(ctx, t, e, "edge", "api", "worker-k")
	setRunningIn(ctx, t, e, "edge", "api", "10.244.3.10", 0)
	waitVirtualNode(ctx, t, e, "worker-k", func(n *corev1.Node) bool { return n.Status.DaemonEndpoints.KubeletEndpoint.Port == e.kubeletPort })
	eventually(ctx, t, "virtual pod bound", func(ctx context.Context) (bool, error) {
		vp, err := e.vAdmin.CoreV1().Pods("edge").Get(ctx, "api", metav1.GetOptions{})
		return err == nil && vp.Spec.NodeName == "worker-k", err
	})
	apiHost := e.tr.HostName("edge", "api")

	t.Run("kubectl logs", func(t *testing.T) {
		out, err := e.vAdmin.CoreV1().Pods("edge").GetLogs("api", &corev1.PodLogOptions{Container: "app", TailLines: ptr.To[int64](3), Timestamps: true}).DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != "hello from the host kubelet\n" {
			t.Errorf("logs %q", out)
		}
		want := "GET /containerLogs/" + hostNS + "/" + apiHost + "/app?"
		if r := kubelet.requests(); len(r) != 1 || !strings.HasPrefix(r[0], want) || !strings.Contains(r[0], "tailLines=3") || !strings.Contains(r[0], "timestamps=true") {
			t.Errorf("host kubelet saw %q, want %s...tailLines=3&timestamps=true", r, want)
		}
	})

	t.Run("kubectl exec", func(t *testing.T) {
		req := e.vAdmin.CoreV1().RESTClient().Post().Resource("pods").Namespace("edge").Name("api").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "app", Command: []string{"sh", "-c", "echo hi"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
		exec, err := remotecommand.NewSPDYExecutor(e.virtual.RESTConfig(), "POST", req.URL())
		if err != nil {
			t.Fatal(err)
		}
		// The stand-in kubelet runs nothing: what matters is what reaches it.
		_ = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard})
		want := "POST /exec/" + hostNS + "/" + apiHost + "/app?command=sh&command=-c&command=echo+hi&error=1&output=1"
		r := kubelet.requests()
		if len(r) < 2 || r[len(r)-1] != want {
			t.Errorf("host kubelet saw %q, want %q last", r, want)
		}
	})

	// Direct calls, as a hostile tenant or process would make them.
	vpki := filepath.Join(e.virtual.DataDir, "pki")
	caPEM, err := os.ReadFile(filepath.Join(vpki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client := func(t *testing.T, certFile, keyFile string) *http.Client {
		cfg := &tls.Config{RootCAs: roots}
		if certFile != "" {
			c, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
	}
	base := "https://" + l.Addr().String()
	call := func(t *testing.T, c *http.Client, method, path string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	logsPath := "/containerLogs/edge/api/app"

	t.Run("callers other than the API server are refused", func(t *testing.T) {
		before := len(kubelet.requests())
		if _, err := call(t, client(t, "", ""), "GET", logsPath); err == nil {
			t.Error("a client without a certificate got an HTTP answer")
		}
		// Another cluster's API server (the host's own kubelet client, another CA).
		hostPKI := filepath.Join(e.host.DataDir, "pki")
		if _, err := call(t, client(t, filepath.Join(hostPKI, "apiserver-kubelet-client.crt"), filepath.Join(hostPKI, "apiserver-kubelet-client.key")), "GET", logsPath); err == nil {
			t.Error("another cluster's kubelet client got an HTTP answer")
		}
		// The virtual cluster's own admin and kplex's syncer: the right CA, not the API server.
		for _, who := range []string{pki.ClientAdmin, pki.ClientKplex, pki.ClientControllerManager} {
			code, err := call(t, client(t, filepath.Join(vpki, who+".crt"), filepath.Join(vpki, who+".key")), "GET", logsPath)
			if err != nil || code != http.StatusForbidden {
				t.Errorf("%s: %d %v, want 403", who, code, err)
			}
		}
		if after := len(kubelet.requests()); after != before {
			t.Errorf("refused callers reached the host kubelet: %q", kubelet.requests()[before:])
		}
	})

	t.Run("only the tenant's synced pods and the four subresources", func(t *testing.T) {
		apiServer := client(t, filepath.Join(vpki, "apiserver-kubelet-client.crt"), filepath.Join(vpki, "apiserver-kubelet-client.key"))
		if code, err := call(t, apiServer, "GET", logsPath); err != nil || code != http.StatusOK {
			t.Fatalf("the API server's own logs request: %d %v", code, err)
		}
		before := len(kubelet.requests())
		for _, c := range []struct {
			method, path string
			code         int
		}{
			{"GET", "/pods", 403},
			{"GET", "/runningpods/", 403},
			{"GET", "/metrics", 403},
			{"GET", "/metrics/cadvisor", 403},
			{"GET", "/stats/summary", 403},
			{"GET", "/configz", 403},
			{"POST", "/run/edge/api/app?cmd=id", 403},
			{"POST", "/checkpoint/edge/api/app", 403},
			{"GET", "/logs/", 403},
			{"GET", "/containerLogs/edge/api/sidecar", 403},                     // not a container the tenant defined
			{"GET", "/containerLogs/edge/nope/app", 403},                        // no such pod
			{"GET", "/containerLogs/edge/spoof/app", 403},                       // its host name belongs to another tenant's pod
			{"GET", "/containerLogs/" + hostNS + "/" + spoofHost + "/app", 403}, // a host pod named directly
			{"GET", "/containerLogs/kube-system/kube-apiserver/app", 403},
			{"GET", "/containerLogs/edge/api/../../../pods", 403},
			{"GET", "/containerLogs/edge%2Fapi/app", 403},
			{"GET", "/containerLogs/edge/api/app?insecureSkipTLSVerifyBackend=true", 400},
			{"DELETE", logsPath, 403},
			{"POST", "/exec/edge/spoof/app?command=id&output=1", 403},
			{"POST", "/portForward/edge/spoof?port=80", 403},
		} {
			code, err := call(t, apiServer, c.method, c.path)
			if err != nil || code != c.code {
				t.Errorf("%s %s: %d %v, want %d", c.method, c.path, code, err, c.code)
			}
		}
		if after := len(kubelet.requests()); after != before {
			t.Errorf("refused requests reached the host kubelet: %q", kubelet.requests()[before:])
		}
	})

	t.Run("no identity header reaches the host", func(t *testing.T) {
		apiServer := client(t, filepath.Join(vpki, "apiserver-kubelet-client.crt"), filepath.Join(vpki, "apiserver-kubelet-client.key"))
		req, _ := http.NewRequestWithContext(ctx, "GET", base+logsPath, nil)
		req.Header.Set("Impersonate-User", "system:admin")
		req.Header.Set("Impersonate-Group", "system:masters")
		req.Header.Set("Authorization", "Bearer stolen")
		resp, err := apiServer.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// Forwarded, such headers would make the host refuse (impersonation) or authenticate
		// someone else: the logs come back as for the API server.
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("hello from the host kubelet")) {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
}

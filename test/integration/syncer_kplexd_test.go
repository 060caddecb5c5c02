package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/internal/testenv"
	"github.com/kplex-dev/kplex/internal/translate"
)

// TestKplexdRunsSyncer starts `kplexd controlplane --host-kubeconfig --host-namespace`
// against a host control plane: the tenant's pods appear in the host namespace.
func TestKplexdRunsSyncer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	host, virtual := kplexdWithSyncer(ctx, t, "kplex-test", "--tenant-api-host", "10.0.0.10:443")
	hostAdmin, vAdmin := host.Client(), virtual.Client()
	mustNamespace(ctx, t, vAdmin, "app")
	waitServiceAccount(ctx, t, vAdmin, "app")
	if _, err := vAdmin.CoreV1().Pods("app").Create(ctx, testPod("app", "hello"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := translate.New(translate.Tenant{Name: "test", HostNamespace: "kplex-test"}) // testenv names every cluster "test"
	if err != nil {
		t.Fatal(err)
	}
	var hp *corev1.Pod
	eventually(ctx, t, "host pod", func(ctx context.Context) (bool, error) {
		hp, err = hostAdmin.CoreV1().Pods("kplex-test").Get(ctx, tr.HostName("app", "hello"), metav1.GetOptions{})
		return err == nil, err
	})
	for _, e := range hp.Spec.Containers[0].Env {
		if e.Name == "KUBERNETES_SERVICE_HOST" && e.Value != "10.0.0.10" || e.Name == "KUBERNETES_SERVICE_PORT" && e.Value != "443" {
			t.Errorf("%s = %s", e.Name, e.Value)
		}
	}
	if _, err := virtual.Terminate(20 * time.Second); err != nil {
		t.Errorf("%v\n%s", err, virtual.LogTail())
	}
}

// kplexdWithSyncer starts a host control plane, and a virtual one (kplexd with extra args)
// whose syncer copies into hostNS with exactly the syncer's host rights.
func kplexdWithSyncer(ctx context.Context, t *testing.T, hostNS string, args ...string) (host, virtual *testenv.ControlPlane) {
	t.Helper()
	host = testenv.NewControlPlane(t, "--profile", "host")
	host.Start(ctx)
	hostKubeconfig := kubeconfigFile(t, grantSyncer(ctx, t, host, hostNS, "test"))
	waitServiceAccount(ctx, t, host.Client(), hostNS)
	virtual = testenv.NewControlPlane(t, append([]string{"--service-cidr", virtualServiceCIDR,
		"--host-kubeconfig", hostKubeconfig, "--host-namespace", hostNS}, args...)...)
	virtual.Start(ctx)
	return host, virtual
}

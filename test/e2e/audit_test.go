package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/cli/audit"
	"github.com/kplex-dev/kplex/internal/testenv"
	"github.com/kplex-dev/kplex/internal/translate"
)

// TestE2EAudit runs `kplex audit` on a devhost with two operator-made tenants, b running
// a web pod and Service for a's probe to aim at: every admission, quota and kubelet-proxy
// check of a passes, the network probe's controls work, and the audit leaves nothing
// behind in a or on the host.
func TestE2EAudit(t *testing.T) {
	bin := kplexBinary(t)
	env := startDevhost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	_, tenants := operatorTenants(ctx, t, env, "a", "b")
	kubeconfig := filepath.Join(env.dataDir, "kubeconfig")

	// Tenant b: a web server with a declared port behind a Service.
	const ns = "shop"
	tenantNamespace(t, "b", tenants["b"], ns)
	server := webDeployment(ns).Spec.Template
	server.Name = "web"
	server.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
	mustPod(ctx, t, tenants["b"], ns, &corev1.Pod{ObjectMeta: server.ObjectMeta, Spec: server.Spec})
	mustService(ctx, t, tenants["b"], ns, "web", map[string]string{"app": "web"}, "")
	waitVirtualRunning(t, tenants["b"], ns, "web")

	// Whether the host isolation objects (ResourceQuota, NetworkPolicies) exist decides
	// what the quota and network rows must say.
	quotas, err := env.client.CoreV1().ResourceQuotas(v1alpha1.HostNamespace("a")).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	policies, err := env.client.NetworkingV1().NetworkPolicies(v1alpha1.HostNamespace("a")).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hostIsolation := len(quotas.Items) > 0 && len(policies.Items) > 0
	t.Logf("host namespace kplex-a: %d ResourceQuotas, %d NetworkPolicies", len(quotas.Items), len(policies.Items))

	stdout, stderr, err := runAudit(ctx, bin, kubeconfig, "audit", "a", "-o", "json")
	t.Logf("kplex audit a -o json: %v\nstderr:\n%s", err, stderr)
	var r audit.Report
	if jerr := json.Unmarshal([]byte(stdout), &r); jerr != nil {
		t.Fatalf("kplex audit a -o json printed no report (%v): %s", jerr, stdout)
	}
	t.Logf("kplex audit a:\n%s", rows(r))
	failed := false
	for _, res := range r.Results {
		group, _, _ := strings.Cut(res.Check, ":")
		want := []audit.Outcome{audit.Pass}
		switch {
		case group == "network" && strings.Contains(res.Check, "control:"):
		case group == "network" && !hostIsolation:
			// Without the host NetworkPolicies the probe must still tell (no ERROR).
			want = []audit.Outcome{audit.Pass, audit.Fail}
		case res.Check == "quota: CPU requests beyond spec.isolation.quota.cpu" && !hostIsolation:
			want = []audit.Outcome{audit.Fail} // the audit must notice the missing wall
		case res.Check == "quota: host ResourceQuota not visible in the virtual cluster" && !hostIsolation:
			want = []audit.Outcome{audit.Skip}
		}
		if !contains(want, res.Result) {
			t.Errorf("%s: %s, want %v: %s", res.Check, res.Result, want, res.Evidence)
		}
		failed = failed || res.Result == audit.Fail || res.Result == audit.Error
	}
	if len(r.Results) < 29 {
		t.Errorf("%d rows, want every check", len(r.Results))
	}
	if (err != nil) != failed {
		t.Errorf("exit error %v, yet FAIL/ERROR rows: %v", err, failed)
	}
	for _, want := range []string{"connecting to virtual cluster a", "audit namespace kplex-audit-", "cleanup: done"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q", want)
		}
	}
	auditLeftovers(ctx, t, env.client, tenants["a"], "a")

	// The table as a person sees it, from b's side.
	stdout, stderr, err = runAudit(ctx, bin, kubeconfig, "audit", "b")
	t.Logf("kplex audit b: %v\n%s\nstderr:\n%s", err, stdout, stderr)
	if !strings.HasPrefix(stdout, "CHECK ") || !strings.Contains(stdout, "admission: hostPID ") {
		t.Errorf("kplex audit b printed no table")
	}
	if hostIsolation && err != nil {
		t.Errorf("kplex audit b: %v", err)
	}
	auditLeftovers(ctx, t, env.client, tenants["b"], "b")

	// Ctrl-C once the audit is under way: it stops, says so, and still cleans up.
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig", kubeconfig, "audit", "a")
	var progress testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &progress, &progress
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The admission checks come first; on a loaded machine they alone took over 2 minutes.
	waitFor(t, "kplex audit a under way", 5*time.Minute, func(context.Context) (bool, error) {
		return strings.Contains(progress.String(), "network: waiting for the control pod"), nil
	})
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	t.Logf("kplex audit a, interrupted: %v\n%s", err, progress.String())
	if err == nil || !strings.Contains(progress.String(), "interrupted") || !strings.Contains(progress.String(), "cleanup: done") {
		t.Errorf("an interrupted audit exits non-zero after its cleanup")
	}
	auditLeftovers(ctx, t, env.client, tenants["a"], "a")
}

// runAudit runs kplex with stdout and stderr apart.
func runAudit(ctx context.Context, bin, kubeconfig string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// auditLeftovers fails when the audit left a namespace in the virtual cluster or a pod of
// one on the host.
func auditLeftovers(ctx context.Context, t *testing.T, host, virtual kubernetes.Interface, tenant string) {
	t.Helper()
	nss, err := virtual.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nss.Items {
		if strings.HasPrefix(n.Name, "kplex-audit-") {
			t.Errorf("tenant %s: namespace %s left (%s)", tenant, n.Name, n.Status.Phase)
		}
	}
	pvs, err := virtual.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pv := range pvs.Items {
		t.Errorf("tenant %s: PersistentVolume %s left", tenant, pv.Name)
	}
	waitFor(t, "no host pod of the audit in "+v1alpha1.HostNamespace(tenant), time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := host.CoreV1().Pods(v1alpha1.HostNamespace(tenant)).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if strings.HasPrefix(p.Annotations[translate.AnnotationVirtualNamespace], "kplex-audit-") {
				return false, fmt.Errorf("host pod %s left", p.Name)
			}
		}
		return true, nil
	})
}

func rows(r audit.Report) string {
	var b strings.Builder
	for _, res := range r.Results {
		fmt.Fprintf(&b, "%-75s %-5s %s\n", res.Check, res.Result, res.Evidence)
	}
	return b.String()
}

func contains(list []audit.Outcome, o audit.Outcome) bool {
	for _, x := range list {
		if x == o {
			return true
		}
	}
	return false
}

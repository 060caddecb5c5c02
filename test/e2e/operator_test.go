package e2e

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/operator"
	"github.com/kplex-dev/kplex/internal/testenv"
)

// TestE2EOperator installs kplex on a devhost with its defaults, creates two virtual
// clusters that become Ready, uses each through its published kubeconfig (a pod runs in
// each, and neither sees the other's objects), then deletes one: none of its host objects
// remain and the other is untouched.
func TestE2EOperator(t *testing.T) {
	env := startDevhost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	names := []string{"a", "b"}
	c, tenants := operatorTenants(ctx, t, env, names...)
	t.Run("each tenant runs a pod and sees only its own world", func(t *testing.T) {
		for _, name := range names {
			cs := tenants[name]
			if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "only-" + name}}, metav1.CreateOptions{}); err != nil {
				t.Fatalf("tenant %s: create namespace: %v", name, err)
			}
			waitFor(t, "default service account in tenant "+name, time.Minute, func(ctx context.Context) (bool, error) {
				_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
				return err == nil, err
			})
			if _, err := cs.CoreV1().Pods("default").Create(ctx, tenantPod(), metav1.CreateOptions{}); err != nil {
				t.Fatalf("tenant %s: create pod: %v", name, err)
			}
		}
		for _, name := range names {
			cs := tenants[name]
			waitFor(t, "tenant "+name+"'s pod Running", 3*time.Minute, func(ctx context.Context) (bool, error) {
				p, err := cs.CoreV1().Pods("default").Get(ctx, "work", metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				if p.Status.Phase != corev1.PodRunning {
					return false, fmt.Errorf("phase %s, conditions %v", p.Status.Phase, p.Status.Conditions)
				}
				return true, nil
			})
			// The host copy of the pod resolves through the tenant's DNS: kubernetes.default
			// is the tenant's API server as pods reach it.
			hostNS := v1alpha1.HostNamespace(name)
			hostPods, err := env.client.CoreV1().Pods(hostNS).List(ctx, metav1.ListOptions{LabelSelector: "kplex.dev/managed-by=" + name})
			if err != nil || len(hostPods.Items) != 1 {
				t.Fatalf("host copy of tenant %s's pod: %v %v", name, err, hostPods)
			}
			apiSvc, err := env.client.CoreV1().Services(hostNS).Get(ctx, operator.ServiceName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The host's NetworkPolicies admit a new pod's traffic once the enforcer has seen it.
			waitFor(t, "tenant "+name+": nslookup kubernetes.default", time.Minute, func(ctx context.Context) (bool, error) {
				out, err := env.execInPod(ctx, hostNS, hostPods.Items[0].Name, "nslookup", "kubernetes.default.svc.cluster.local")
				if err != nil || !strings.Contains(out, apiSvc.Spec.ClusterIP) {
					return false, fmt.Errorf("%v\n%s\nwant %s", err, out, apiSvc.Spec.ClusterIP)
				}
				return true, nil
			})
			other := "b"
			if name == "b" {
				other = "a"
			}
			if _, err := cs.CoreV1().Namespaces().Get(ctx, "only-"+other, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("tenant %s sees tenant %s's namespace: %v", name, other, err)
			}
		}
	})

	t.Run("delete a leaves nothing of a and b untouched", func(t *testing.T) {
		bObjects := hostObjectsOf(ctx, t, env, "b")
		bBefore := &v1alpha1.VirtualCluster{}
		if err := c.Get(ctx, types.NamespacedName{Name: "b"}, bBefore); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Delete(ctx, &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: "a"}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "virtual cluster a gone", 3*time.Minute, func(ctx context.Context) (bool, error) {
			err := c.Get(ctx, types.NamespacedName{Name: "a"}, &v1alpha1.VirtualCluster{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, fmt.Errorf("still there (err %v)", err)
		})
		t.Logf("virtual cluster a: delete to gone in %s", time.Since(start).Round(100*time.Millisecond))
		// The volume goes once its claim is: the provisioner deletes it right after.
		waitFor(t, "no host object of a", time.Minute, func(ctx context.Context) (bool, error) {
			if left := hostObjectsOf(ctx, t, env, "a"); len(left) > 0 {
				return false, fmt.Errorf("left: %v", left)
			}
			return true, nil
		})
		bAfter := &v1alpha1.VirtualCluster{}
		if err := c.Get(ctx, types.NamespacedName{Name: "b"}, bAfter); err != nil {
			t.Fatal(err)
		}
		if bAfter.Status.Phase != v1alpha1.PhaseReady || bAfter.Generation != bBefore.Generation {
			t.Errorf("b after a's deletion: phase %s generation %d (was %d)", bAfter.Status.Phase, bAfter.Generation, bBefore.Generation)
		}
		if after := hostObjectsOf(ctx, t, env, "b"); strings.Join(after, ",") != strings.Join(bObjects, ",") {
			t.Errorf("b's host objects changed:\nbefore %v\nafter  %v", bObjects, after)
		}
		if _, err := tenants["b"].CoreV1().Pods("default").Get(ctx, "work", metav1.GetOptions{}); err != nil {
			t.Errorf("tenant b after a's deletion: %v", err)
		}
	})
}

// operatorTenants installs kplex on the devhost with its defaults, creates a virtual
// cluster per name, all at once, waits until each is Ready and connects to each through
// kplex connect.
func operatorTenants(ctx context.Context, t *testing.T, env *devhostEnv, names ...string) (client.Client, map[string]kubernetes.Interface) {
	t.Helper()
	specs := map[string]v1alpha1.VirtualClusterSpec{}
	for _, name := range names {
		specs[name] = v1alpha1.VirtualClusterSpec{}
	}
	return operatorTenantsWith(ctx, t, env, install.Options{}, specs)
}

// operatorTenantsWith is operatorTenants with installation options and a spec per tenant.
func operatorTenantsWith(ctx context.Context, t *testing.T, env *devhostEnv, opts install.Options, specs map[string]v1alpha1.VirtualClusterSpec) (client.Client, map[string]kubernetes.Interface) {
	t.Helper()
	names := slices.Sorted(maps.Keys(specs))
	c := installOperator(ctx, t, env, opts)
	t.Cleanup(func() { // before the devhost goes down
		if t.Failed() {
			dumpHost(context.Background(), t, env, names)
		}
	})
	createReady(ctx, t, c, specs)
	tenants := map[string]kubernetes.Interface{}
	for _, name := range names {
		tenants[name] = tenantClient(ctx, t, env, c, name)
	}
	return c, tenants
}

// installOperator installs kplex and waits until the operator is available.
func installOperator(ctx context.Context, t *testing.T, env *devhostEnv, opts install.Options) client.Client {
	t.Helper()
	c := testenv.InstallKplex(ctx, t, env.config, opts)
	waitFor(t, "operator available", 3*time.Minute, func(ctx context.Context) (bool, error) {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: install.Namespace, Name: install.OperatorName}, d); err != nil {
			return false, err
		}
		if d.Status.AvailableReplicas < 1 {
			return false, fmt.Errorf("%d available", d.Status.AvailableReplicas)
		}
		return true, nil
	})
	return c
}

// createReady creates the virtual clusters at once and waits until each is Ready.
func createReady(ctx context.Context, t *testing.T, c client.Client, specs map[string]v1alpha1.VirtualClusterSpec) {
	t.Helper()
	var wg sync.WaitGroup
	for name, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			if spec.Datastore.Type == "" {
				spec.Datastore.Type = v1alpha1.DatastoreEmbedded
			}
			if err := c.Create(ctx, &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}); err != nil {
				t.Errorf("create virtual cluster %s: %v", name, err)
				return
			}
			if err := waitReady(ctx, c, name, 4*time.Minute); err != nil {
				t.Error(err)
				return
			}
			t.Logf("virtual cluster %s: create to Ready in %s (%s)", name, time.Since(start).Round(100*time.Millisecond), timeline(ctx, c, name))
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// waitReady waits for phase Ready, returning the last status seen on timeout.
func waitReady(ctx context.Context, c client.Client, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	vc := &v1alpha1.VirtualCluster{}
	for {
		// Ready at the observed generation: after a spec change, the spec now asked for runs.
		if err := c.Get(ctx, types.NamespacedName{Name: name}, vc); err == nil && vc.Status.Phase == v1alpha1.PhaseReady && vc.Status.ObservedGeneration == vc.Generation {
			return nil
		}
		select {
		case <-ctx.Done():
			r := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionReady)
			return fmt.Errorf("virtual cluster %s not Ready after %s: phase %s, Ready condition %+v", name, timeout, vc.Status.Phase, r)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// timeline says when each condition last turned, counted from the VirtualCluster's creation.
func timeline(ctx context.Context, c client.Client, name string) string {
	vc := &v1alpha1.VirtualCluster{}
	if err := c.Get(ctx, types.NamespacedName{Name: name}, vc); err != nil {
		return err.Error()
	}
	var parts []string
	for _, cond := range vc.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s %s at +%s", cond.Type, cond.Status, cond.LastTransitionTime.Sub(vc.CreationTimestamp.Time)))
	}
	return strings.Join(parts, ", ")
}

// tenantClient checks the kubeconfig the control plane published, then connects as a user
// outside the host cluster does, through kplex connect (a port-forward by the kubelet): the
// host's network policy admits nobody else to the control plane's pod.
func tenantClient(ctx context.Context, t *testing.T, env *devhostEnv, c client.Client, name string) kubernetes.Interface {
	t.Helper()
	cs, _ := tenantConnect(ctx, t, env, c, name)
	return cs
}

// tenantConnect is tenantClient that also returns the connection's config (for exec).
func tenantConnect(ctx context.Context, t *testing.T, env *devhostEnv, c client.Client, name string) (kubernetes.Interface, *rest.Config) {
	t.Helper()
	vc := &v1alpha1.VirtualCluster{}
	if err := c.Get(ctx, types.NamespacedName{Name: name}, vc); err != nil {
		t.Fatal(err)
	}
	ref := vc.Status.KubeconfigSecret
	if ref == nil {
		t.Fatalf("%s is Ready without status.kubeconfigSecret", name)
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, s); err != nil {
		t.Fatal(err)
	}
	published, err := clientcmd.RESTConfigFromKubeConfig(s.Data[v1alpha1.KubeconfigSecretKey])
	if err != nil {
		t.Fatalf("published kubeconfig of %s: %v", name, err)
	}
	if published.Host != vc.Status.Endpoint {
		t.Errorf("kubeconfig server %s, status endpoint %s", published.Host, vc.Status.Endpoint)
	}
	cfg, stop, err := testenv.KplexConnect(ctx, testenv.Binary(t, "kplex"), name, "--kubeconfig", filepath.Join(env.dataDir, "kubeconfig"))
	if err != nil {
		t.Fatalf("kplex connect %s: %v", name, err)
	}
	t.Cleanup(stop)
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		t.Fatalf("tenant %s's API through kplex connect: %v", name, err)
	}
	return cs, rest.CopyConfig(cfg)
}

// tenantPod is a workload the tenant's restricted host namespace admits.
func tenantPod() *corev1.Pod {
	c := testboxContainer("work", "sleep", "3600")
	c.SecurityContext = &corev1.SecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(1000)), AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "work"}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
}

// dumpHost logs what the host shows of the virtual clusters, for a failed run.
func dumpHost(ctx context.Context, t *testing.T, env *devhostEnv, names []string) {
	for _, name := range names {
		ns := v1alpha1.HostNamespace(name)
		pods, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Logf("pods of %s: %v", ns, err)
			continue
		}
		for _, p := range pods.Items {
			t.Logf("pod %s/%s: phase %s, conditions %+v, containers %+v", ns, p.Name, p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
			logs, _ := env.client.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: ptr.To(int64(40))}).DoRaw(ctx)
			t.Logf("logs of %s:\n%s", p.Name, logs)
		}
	}
	pods, _ := env.client.CoreV1().Pods(install.Namespace).List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		logs, _ := env.client.CoreV1().Pods(install.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: ptr.To(int64(60))}).DoRaw(ctx)
		t.Logf("operator %s (phase %s, conditions %+v, containers %+v) logs:\n%s", p.Name, p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses, logs)
	}
}

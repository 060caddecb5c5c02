package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/gateway"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/podsecurity"
)

// TestE2ESleepWake: a tenant runs a Deployment with a claim; kplex sleep removes every pod
// it has on the host (control plane included) and keeps its volumes; one request through
// the gateway wakes it and is answered, and the same pod comes back and finds the data it
// wrote before; an idle tenant with a short spec.sleep.afterInactivity falls asleep by
// itself, and kplex wake brings it back.
func TestE2ESleepWake(t *testing.T) {
	kplex := kplexOn{bin: kplexBinary(t)}
	env := startDevhost(t)
	kplex.kubeconfig = filepath.Join(env.dataDir, "kubeconfig")
	ctx := context.Background()
	c, tenants := operatorTenants(ctx, t, env, "z")
	cs := tenants["z"]
	tenantNamespace(t, "z", cs, "app")
	keeper := keeperDeployment()
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}}}}
	if _, err := cs.CoreV1().PersistentVolumeClaims("app").Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments("app").Create(ctx, keeper, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := keeperLog(t, cs, "wrote ")
	stamp := strings.TrimPrefix(pod.log, "wrote ")

	hostNS := v1alpha1.HostNamespace("z")
	kplex.ok(t, 5*time.Minute, "sleep", "z", "--wait")
	pods, err := env.client.CoreV1().Pods(hostNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		t.Errorf("pod %s/%s left on the host of a sleeping tenant (phase %s)", hostNS, p.Name, p.Status.Phase)
	}
	claims, err := env.client.CoreV1().PersistentVolumeClaims(hostNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(claims.Items) != 2 { // the control plane's store and the tenant's claim
		t.Errorf("claims kept while asleep: %d, want 2 (the control plane's and the tenant's)", len(claims.Items))
	}

	// One request with the published gateway kubeconfig, as kubectl get pods would make it:
	// the gateway wakes z and holds or closes the connection (client-go retries a GET that
	// got EOF) until z answers.
	gw := gatewayClient(ctx, t, c, "z")
	start := time.Now()
	reqCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	_, err = gw.CoreV1().Pods("app").List(reqCtx, metav1.ListOptions{})
	cancel()
	if err != nil {
		t.Fatalf("a request through the gateway to sleeping tenant z: %v (after %s)", err, time.Since(start).Round(100*time.Millisecond))
	}
	t.Logf("a request through the gateway to sleeping tenant z answered in %s", time.Since(start).Round(100*time.Millisecond))
	cs = tenantClient(ctx, t, env, c, "z") // the control plane has a new pod address
	again := keeperLog(t, cs, "found ")
	if again.name != pod.name {
		t.Errorf("after the wake the Deployment runs pod %s, before it ran %s: want the same pod back", again.name, pod.name)
	}
	if got := strings.TrimPrefix(again.log, "found "); got != stamp {
		t.Errorf("after the wake the pod reads %q from its claim, before it wrote %q", got, stamp)
	}

	// Idle: nobody uses z's API from here on.
	vc := &v1alpha1.VirtualCluster{}
	if err := c.Get(ctx, types.NamespacedName{Name: "z"}, vc); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(vc.DeepCopy())
	vc.Spec.Sleep.AfterInactivity = &metav1.Duration{Duration: time.Minute}
	if err := c.Patch(ctx, vc, patch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "z asleep after a minute of inactivity", 4*time.Minute, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, types.NamespacedName{Name: "z"}, vc); err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(vc.Status.Conditions, v1alpha1.ConditionAsleep)
		if cond == nil || cond.Status != metav1.ConditionTrue {
			return false, fmt.Errorf("phase %s, asleep %+v, last activity %v", vc.Status.Phase, cond, vc.Status.LastActivityTime)
		}
		return true, nil
	})
	t.Logf("z fell asleep: %s (last activity %v)", vc.Annotations[v1alpha1.AnnotationSleepReason], vc.Status.LastActivityTime)
	if vc.Status.LastActivityTime == nil {
		t.Errorf("status.lastActivityTime of z is empty after requests through the gateway and the tenant client")
	}

	start = time.Now()
	kplex.ok(t, 5*time.Minute, "wake", "z", "--wait")
	t.Logf("kplex wake z --wait: Ready in %s", time.Since(start).Round(100*time.Millisecond))
}

// gatewayClient connects with the gateway kubeconfig that the operator published for
// tenant name. The machine reaches pod addresses but not Service addresses, so it dials
// the operator pod's gateway port; the TLS server name stays the kubeconfig's.
func gatewayClient(ctx context.Context, t *testing.T, c client.Client, name string) kubernetes.Interface {
	t.Helper()
	vc := &v1alpha1.VirtualCluster{}
	if err := c.Get(ctx, types.NamespacedName{Name: name}, vc); err != nil || vc.Status.KubeconfigSecret == nil {
		t.Fatalf("virtual cluster %s: %v, kubeconfig secret %v", name, err, vc.Status.KubeconfigSecret)
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: vc.Status.KubeconfigSecret.Namespace, Name: vc.Status.KubeconfigSecret.Name}, s); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(s.Data[v1alpha1.GatewayKubeconfigSecretKey])
	if err != nil {
		t.Fatalf("published gateway kubeconfig of %s: %v", name, err)
	}
	if want := gateway.ServerName(name, gateway.DefaultDomain); cfg.TLSClientConfig.ServerName != want {
		t.Errorf("gateway kubeconfig server name %q, want %s", cfg.TLSClientConfig.ServerName, want)
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(install.Namespace)); err != nil {
		t.Fatal(err)
	}
	cfg.Host = ""
	for _, p := range pods.Items {
		if strings.HasPrefix(p.Name, install.OperatorName+"-") && p.Status.PodIP != "" && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			cfg.Host = fmt.Sprintf("https://%s:%d", p.Status.PodIP, install.GatewayPort)
		}
	}
	if cfg.Host == "" {
		t.Fatalf("no running operator pod in %s to reach the gateway", install.Namespace)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// keeperDeployment writes a stamp into its claim once, and says on every start whether it
// found one.
func keeperDeployment() *appsv1.Deployment {
	labels := map[string]string{"app": "keeper"}
	c := testboxContainer("keeper", "sh", "-c",
		`if [ -f /data/stamp ]; then echo "found $(cat /data/stamp)"; else date +%s%N > /data/stamp && echo "wrote $(cat /data/stamp)"; fi; exec sleep 3600`)
	c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	spec := corev1.PodSpec{Containers: []corev1.Container{c},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}}
	podsecurity.Restrict(&spec)
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "keeper"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}
}

type keeperPod struct{ name, log string }

// keeperLog waits for the keeper pod's first log line to start with prefix, read through
// the virtual cluster (its kubelet proxy).
func keeperLog(t *testing.T, cs kubernetes.Interface, prefix string) keeperPod {
	t.Helper()
	var kp keeperPod
	waitFor(t, "keeper pod logging "+strings.TrimSpace(prefix), 4*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods("app").List(ctx, metav1.ListOptions{LabelSelector: "app=keeper"})
		if err != nil {
			return false, err
		}
		if len(pods.Items) != 1 || pods.Items[0].Status.Phase != corev1.PodRunning {
			return false, fmt.Errorf("%d keeper pods, want 1 Running", len(pods.Items))
		}
		p := pods.Items[0]
		out, err := cs.CoreV1().Pods("app").GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			return false, err
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		kp = keeperPod{name: p.Name, log: line}
		if !strings.HasPrefix(line, prefix) {
			return false, fmt.Errorf("pod %s logs %q", p.Name, line)
		}
		return true, nil
	})
	return kp
}

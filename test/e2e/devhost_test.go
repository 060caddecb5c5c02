package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestE2EDevhost brings a devhost up, runs workloads on it through the whole
// path a user's would take (scheduling, containers, Services, NetworkPolicy,
// volumes), and checks that down leaves nothing behind.
func TestE2EDevhost(t *testing.T) {
	env := startDevhost(t)
	t.Logf("up to node Ready: %s", env.upTime.Round(10*time.Millisecond))
	ctx := context.Background()
	netnsInode, err := nsInode("/run/netns/kplex-devhost")
	if err != nil {
		t.Fatalf("devhost network namespace: %v", err)
	}

	ns := fmt.Sprintf("e2e-%d", time.Now().UnixNano()%100000)
	if _, err := env.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "default service account in "+ns, time.Minute, func(ctx context.Context) (bool, error) {
		_, err := env.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})

	t.Run("node is Ready", func(t *testing.T) {
		out, err := env.run(ctx, "status")
		if err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		if !strings.Contains(out, "kplex-devhost Ready") {
			t.Errorf("status does not report the node Ready:\n%s", out)
		}
	})

	var clusterIP string
	t.Run("deployment and service", func(t *testing.T) {
		if _, err := env.client.AppsV1().Deployments(ns).Create(ctx, webDeployment(ns), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		svc, err := env.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "web"},
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intOrPort(8080)}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		clusterIP = svc.Spec.ClusterIP
		waitFor(t, "deployment web available", 2*time.Minute, func(ctx context.Context) (bool, error) {
			d, err := env.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			return err == nil && d.Status.AvailableReplicas == 1, err
		})
		client := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "client", Labels: map[string]string{"role": "client"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{testboxContainer("client", "sleep", "3600")}},
		}
		if _, err := env.client.CoreV1().Pods(ns).Create(ctx, client, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		env.waitPodRunning(t, ns, "client")
		waitFor(t, "ClusterIP "+clusterIP+" answers from another pod", time.Minute, func(ctx context.Context) (bool, error) {
			out, err := env.execInPod(ctx, ns, "client", "timeout", "3", "wget", "-q", "-O-", "http://"+clusterIP+"/")
			return strings.Contains(out, "hello from web"), err
		})
		// The machine routes the pod network to the node: tests may talk to pods directly.
		pods, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(pods.Items) != 1 {
			t.Fatalf("web pods: %v %v", len(pods.Items), err)
		}
		body, err := httpGet(ctx, "http://"+pods.Items[0].Status.PodIP+":8080/")
		if err != nil || !strings.Contains(body, "hello from web") {
			t.Errorf("pod IP from the machine: %q %v", body, err)
		}
	})

	t.Run("network policy", func(t *testing.T) {
		if clusterIP == "" {
			t.Skip("no service")
		}
		deny := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "default-deny"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			},
		}
		if _, err := env.client.NetworkingV1().NetworkPolicies(ns).Create(ctx, deny, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "default-deny blocks the ClusterIP", 30*time.Second, func(ctx context.Context) (bool, error) {
			_, err := env.execInPod(ctx, ns, "client", "timeout", "3", "wget", "-q", "-O-", "http://"+clusterIP+"/")
			return err != nil, nil
		})
		allow := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "allow-client-to-web"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}}}},
				}},
			},
		}
		if _, err := env.client.NetworkingV1().NetworkPolicies(ns).Create(ctx, allow, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "allow policy restores the ClusterIP", 30*time.Second, func(ctx context.Context) (bool, error) {
			out, err := env.execInPod(ctx, ns, "client", "timeout", "3", "wget", "-q", "-O-", "http://"+clusterIP+"/")
			return strings.Contains(out, "hello from web"), err
		})
	})

	t.Run("stand-in outside services and no route off the machine", func(t *testing.T) {
		out, err := env.execInPod(ctx, ns, "client", "timeout", "3", "wget", "-q", "-O-", "http://169.254.169.254/latest/meta-data/instance-id")
		if err != nil || !strings.Contains(out, "i-kplexdevhost") {
			t.Errorf("metadata stand-in: %q %v", out, err)
		}
		out, err = env.execInPod(ctx, ns, "client", "nslookup", "upstream.kplex.test")
		if err != nil || !strings.Contains(out, "10.213.53.53") {
			t.Errorf("DNS stand-in: %q %v", out, err)
		}
		// Asking the routing table sends nothing; 198.51.100.1 is a documentation address.
		route, err := exec.Command("ip", "-n", "kplex-devhost", "route", "get", "198.51.100.1").CombinedOutput()
		if err == nil || !strings.Contains(string(route), "unreachable") {
			t.Errorf("the devhost namespace has a route off the machine: %s", route)
		}
		if err := exec.Command("nft", "list", "table", "inet", "kplex_devhost_guard").Run(); err != nil {
			t.Errorf("forwarding guard table missing on the machine: %v", err)
		}
	})

	t.Run("volume", func(t *testing.T) {
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
			},
		}
		if _, err := env.client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		writer := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "writer"},
			Spec: corev1.PodSpec{
				RestartPolicy:   corev1.RestartPolicyNever,
				SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)},
				Containers: []corev1.Container{func() corev1.Container {
					c := testboxContainer("writer", "sh", "-c", "echo kept > /data/proof && cat /data/proof")
					c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
					return c
				}()},
				Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
				}}},
			},
		}
		if _, err := env.client.CoreV1().Pods(ns).Create(ctx, writer, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "writer pod Succeeded", 2*time.Minute, func(ctx context.Context) (bool, error) {
			p, err := env.client.CoreV1().Pods(ns).Get(ctx, "writer", metav1.GetOptions{})
			if err == nil && p.Status.Phase == corev1.PodFailed {
				return false, fmt.Errorf("writer pod failed: %+v", p.Status)
			}
			return err == nil && p.Status.Phase == corev1.PodSucceeded, err
		})
		got, err := env.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		if err != nil || got.Status.Phase != corev1.ClaimBound {
			t.Fatalf("claim not bound: %v %v", got.Status.Phase, err)
		}
		proofs, _ := filepath.Glob(filepath.Join(env.dataDir, "volumes", "*", "proof"))
		if len(proofs) != 1 {
			t.Fatalf("the pod's file is not in the volume directory: %v", proofs)
		}
		if b, _ := os.ReadFile(proofs[0]); strings.TrimSpace(string(b)) != "kept" {
			t.Errorf("volume file holds %q", b)
		}
	})

	t.Run("down leaves nothing behind", func(t *testing.T) {
		start := time.Now()
		out, err := env.run(ctx, "down")
		t.Logf("kplex-devhost down (%s):\n%s", time.Since(start).Round(10*time.Millisecond), out)
		if err != nil {
			t.Fatalf("down: %v", err)
		}
		if left := devhostLeftovers(t, env.dataDir, netnsInode); len(left) > 0 {
			t.Errorf("left behind after down:\n  %s", strings.Join(left, "\n  "))
		}
		if out, err := env.run(ctx, "status"); err == nil {
			t.Errorf("status succeeds after down:\n%s", out)
		}
	})
}

// TestE2EDevhostRecovers checks that up is idempotent and that the next up
// cleans up after a devhost whose daemon was killed with its pods running.
func TestE2EDevhostRecovers(t *testing.T) {
	env := startDevhost(t)
	ctx := context.Background()
	out, err := env.run(ctx, "up")
	if err != nil || !strings.Contains(out, "already running") {
		t.Fatalf("second up: %v\n%s", err, out)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{testboxContainer("c", "sleep", "3600")}},
	}
	if _, err := env.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.waitPodRunning(t, "default", "survivor")
	// The old devhost's processes, by pid: a new namespace may reuse the old one's inode.
	inode, err := nsInode("/run/netns/kplex-devhost")
	if err != nil {
		t.Fatal(err)
	}
	oldProcs := processesInNetns(inode)

	pidFile, err := os.ReadFile(filepath.Join(env.dataDir, "run", "daemon.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("kill", "-9", strings.TrimSpace(string(pidFile))).CombinedOutput(); err != nil {
		t.Fatalf("kill daemon: %v %s", err, out)
	}
	out, err = env.run(ctx, "up")
	t.Logf("up after a crash:\n%s", out)
	if err != nil {
		t.Fatalf("up after a crash: %v", err)
	}
	if !strings.Contains(out, "removing the remains of a previous devhost run") {
		t.Errorf("up did not report cleaning up the crashed run")
	}
	for _, p := range oldProcs {
		pid := strings.Fields(p)[1]
		if _, err := os.Stat("/proc/" + pid); err == nil {
			t.Errorf("%s of the crashed devhost survived", p)
		}
	}
	env.connect(t) // the new devhost has a new CA
	pods, err := env.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 0 {
		t.Errorf("the fresh devhost has %d pods from the crashed one", len(pods.Items))
	}
}

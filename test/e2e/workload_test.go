package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/podsecurity"
	"github.com/kplex-dev/kplex/internal/translate"
)

// TestE2EWorkload: a Deployment, a Service and a ConfigMap made in a virtual cluster run
// for real on the host; a pod reaches the Service by the ClusterIP it sees (names: TestE2EDNS);
// deleting the Deployment removes every host pod it had, and nothing else.
func TestE2EWorkload(t *testing.T) {
	env := startDevhost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, _ := operatorTenants(ctx, t, env, "w")
	cs, cfg := tenantConnect(ctx, t, env, c, "w")
	const ns = "shop"
	tenantNamespace(t, "w", cs, ns)

	page := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "page"}, Data: map[string]string{"index.html": "hello from a configmap\n"}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, page, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	server := testboxContainer("web", "httpd", "-f", "-p", "8080", "-h", "/www")
	server.VolumeMounts = []corev1.VolumeMount{{Name: "page", MountPath: "/www"}}
	spec := corev1.PodSpec{Containers: []corev1.Container{server},
		Volumes: []corev1.Volume{{Name: "page", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "page"}}}}}}
	podsecurity.Restrict(&spec)
	web := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := mustService(ctx, t, cs, ns, "web", labels, "")
	mustPod(ctx, t, cs, ns, sleeper("client", nil))
	waitFor(t, "deployment web available in the virtual cluster", 4*time.Minute, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if d.Status.AvailableReplicas == 2 {
			return true, nil
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		var states []string
		for _, p := range pods.Items {
			ready := "?"
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady {
					ready = string(c.Status)
				}
			}
			states = append(states, fmt.Sprintf("%s %s ready=%s node=%q", p.Name, p.Status.Phase, ready, p.Spec.NodeName))
		}
		return false, fmt.Errorf("%d/2 available (replicasets: %d ready); virtual pods: %s", d.Status.AvailableReplicas, d.Status.ReadyReplicas, strings.Join(states, "; "))
	})
	waitVirtualRunning(t, cs, ns, "client")
	hostSvc, err := env.client.CoreV1().Services(v1alpha1.HostNamespace("w")).List(ctx, metav1.ListOptions{LabelSelector: translate.LabelManagedBy + "=w"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hostSvc.Items) != 1 || hostSvc.Items[0].Spec.ClusterIP != svc.Spec.ClusterIP {
		t.Errorf("host copies of the service: %d, want 1 with ClusterIP %s (the virtual one)", len(hostSvc.Items), svc.Spec.ClusterIP)
	}

	// As the tenant would: kubectl exec in the virtual cluster (kplexd's kubelet proxy).
	url := "http://" + svc.Spec.ClusterIP + "/"
	start := time.Now()
	waitFor(t, "client reaches the service at its ClusterIP "+svc.Spec.ClusterIP, time.Minute, func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := virtualExec(ctx, cfg, cs, ns, "client", true, "timeout", "3", "wget", "-q", "-O-", url)
		if err != nil {
			t.Logf("+%s: %v", time.Since(start).Round(100*time.Millisecond), err)
			return false, err
		}
		if out != page.Data["index.html"] {
			return false, fmt.Errorf("got %q", out)
		}
		return true, nil
	})

	if err := cs.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every host pod of the deployment gone", 2*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := env.client.CoreV1().Pods(v1alpha1.HostNamespace("w")).List(ctx, metav1.ListOptions{LabelSelector: translate.LabelManagedBy + "=w"})
		if err != nil {
			return false, err
		}
		var left []string
		for _, p := range pods.Items {
			left = append(left, p.Annotations[translate.AnnotationVirtualName])
		}
		return len(left) == 1 && left[0] == "client", fmt.Errorf("tenant pods on the host: %s", strings.Join(left, ", "))
	})
}

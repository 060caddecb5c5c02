package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/testenv"
)

func privilegedTestPod(ns, name string) *corev1.Pod {
	p := testPod(ns, name)
	sc := p.Spec.Containers[0].SecurityContext
	sc.Privileged, sc.AllowPrivilegeEscalation = ptr.To(true), nil // privileged implies escalation
	return p
}

// refused fails the test unless err is a Forbidden that names every want.
func refused(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Fatalf("%s: got %v, want Forbidden", what, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: refusal %q does not name %q", what, err, w)
		}
	}
}

// TestTenantPolicy acts as the tenant's cluster-admin against a virtual cluster with
// kplex's defaults: restricted pods, no node ports, no host volumes.
func TestTenantPolicy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cp := testenv.NewControlPlane(t)
	cp.Start(ctx)
	cs := cp.Client()
	mustNamespace(ctx, t, cs, "app")
	waitServiceAccount(ctx, t, cs, "app")
	pods := cs.CoreV1().Pods("app")

	t.Run("privileged pod refused naming the field", func(t *testing.T) {
		_, err := pods.Create(ctx, privilegedTestPod("app", "priv"), metav1.CreateOptions{})
		refused(t, "privileged pod", err, `violates PodSecurity "restricted:latest"`, `container "app" must not set securityContext.privileged=true`)
	})
	t.Run("hostPath and host namespaces refused", func(t *testing.T) {
		p := testPod("app", "host")
		p.Spec.HostNetwork, p.Spec.HostPID = true, true
		p.Spec.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		_, err := pods.Create(ctx, p, metav1.CreateOptions{})
		refused(t, "host pod", err, "hostNetwork=true", "hostPID=true", `"hostPath"`)
	})
	t.Run("pod naming a host node refused", func(t *testing.T) {
		p := testPod("app", "pinned")
		p.Spec.NodeName = "control-plane"
		_, err := pods.Create(ctx, p, metav1.CreateOptions{})
		refused(t, "pod with spec.nodeName", err, `spec.nodeName "control-plane" is not allowed`)
	})
	t.Run("pod running as root refused at restricted", func(t *testing.T) {
		_, err := pods.Create(ctx, rootTestPod("app", "root"), metav1.CreateOptions{})
		refused(t, "root pod", err, "runAsNonRoot != true", "seccompProfile")
	})
	t.Run("restricted pod accepted", func(t *testing.T) {
		if _, err := pods.Create(ctx, testPod("app", "ok"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("restricted pod: %v", err)
		}
	})
	t.Run("deployment with a privileged template refused", func(t *testing.T) {
		d := privilegedDeployment("app")
		_, err := cs.AppsV1().Deployments("app").Create(ctx, d, metav1.CreateOptions{})
		refused(t, "deployment", err, "securityContext.privileged=true")
	})
	t.Run("namespace label cannot lower the level", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lowered", Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "privileged"}}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitServiceAccount(ctx, t, cs, "lowered")
		_, err := cs.CoreV1().Pods("lowered").Create(ctx, privilegedTestPod("lowered", "priv"), metav1.CreateOptions{})
		refused(t, "privileged pod in a namespace labelled privileged", err, "securityContext.privileged=true")
	})
	t.Run("NodePort, LoadBalancer and externalIPs refused", func(t *testing.T) {
		for _, typ := range []corev1.ServiceType{corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer} {
			_, err := cs.CoreV1().Services("app").Create(ctx, tenantService("app", "np", typ), metav1.CreateOptions{})
			refused(t, string(typ), err, `spec.type "`+string(typ)+`" is not allowed`, "kplexd --allow-")
		}
		s := tenantService("app", "ext", corev1.ServiceTypeClusterIP)
		s.Spec.ExternalIPs = []string{"192.0.2.1"}
		_, err := cs.CoreV1().Services("app").Create(ctx, s, metav1.CreateOptions{})
		refused(t, "externalIPs", err, "spec.externalIPs")
		// Nor can a ClusterIP service be turned into one.
		s, err = cs.CoreV1().Services("app").Create(ctx, tenantService("app", "cip", corev1.ServiceTypeClusterIP), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Spec.Type = corev1.ServiceTypeNodePort
		_, err = cs.CoreV1().Services("app").Update(ctx, s, metav1.UpdateOptions{})
		refused(t, "update to NodePort", err, `spec.type "NodePort"`)
	})
	t.Run("Ingress refused", func(t *testing.T) {
		_, err := cs.NetworkingV1().Ingresses("app").Create(ctx, tenantIngress("web"), metav1.CreateOptions{})
		refused(t, "Ingress", err, "Ingresses are not allowed", "kplexd --allow-ingresses")
	})
	t.Run("hostPath and local PersistentVolumes refused", func(t *testing.T) {
		for _, src := range []corev1.PersistentVolumeSource{
			{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}},
			{Local: &corev1.LocalVolumeSource{Path: "/var/lib/kubelet"}},
		} {
			pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "host"}, Spec: corev1.PersistentVolumeSpec{
				Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeSource: src,
				NodeAffinity:           anyNodeAffinity(),
			}}
			_, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
			refused(t, "host PersistentVolume", err, "is not allowed in a virtual cluster", "PersistentVolumeClaim")
		}
	})
	t.Run("no policy object to delete", func(t *testing.T) {
		deleteAdmissionObjects(ctx, t, cs)
		_, err := pods.Create(ctx, privilegedTestPod("app", "priv2"), metav1.CreateOptions{})
		refused(t, "privileged pod after deleting every admission object", err, "securityContext.privileged=true")
	})
}

// TestTenantPolicyLoosened: what the host admin allows with kplexd's flags.
func TestTenantPolicyLoosened(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cp := testenv.NewControlPlane(t, "--pod-security=baseline", "--allow-node-ports", "--allow-ingresses")
	cp.Start(ctx)
	cs := cp.Client()
	mustNamespace(ctx, t, cs, "app")
	waitServiceAccount(ctx, t, cs, "app")
	if _, err := cs.CoreV1().Pods("app").Create(ctx, rootTestPod("app", "root"), metav1.CreateOptions{}); err != nil {
		t.Errorf("root pod without seccomp at baseline: %v", err)
	}
	_, err := cs.CoreV1().Pods("app").Create(ctx, privilegedTestPod("app", "priv"), metav1.CreateOptions{})
	refused(t, "privileged pod at baseline", err, `violates PodSecurity "baseline:latest"`, "securityContext.privileged=true")
	// A namespace label still raises the level.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "strict", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitServiceAccount(ctx, t, cs, "strict")
	_, err = cs.CoreV1().Pods("strict").Create(ctx, rootTestPod("strict", "root"), metav1.CreateOptions{})
	refused(t, "root pod in a namespace labelled restricted", err, `"restricted:latest"`)
	if _, err := cs.CoreV1().Services("app").Create(ctx, tenantService("app", "np", corev1.ServiceTypeNodePort), metav1.CreateOptions{}); err != nil {
		t.Errorf("NodePort with --allow-node-ports: %v", err)
	}
	_, err = cs.CoreV1().Services("app").Create(ctx, tenantService("app", "lb", corev1.ServiceTypeLoadBalancer), metav1.CreateOptions{})
	refused(t, "LoadBalancer without --allow-load-balancers", err, "--allow-load-balancers")
	if _, err := cs.NetworkingV1().Ingresses("app").Create(ctx, tenantIngress("web"), metav1.CreateOptions{}); err != nil {
		t.Errorf("Ingress with --allow-ingresses: %v", err)
	}
}

// tenantIngress sends everything to port 80 of Service svc.
func tenantIngress(svc string) *networkingv1.Ingress {
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "front"}, Spec: networkingv1.IngressSpec{
		DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
}

// deleteAdmissionObjects deletes every admission webhook and policy, as a tenant looking
// for the policy would, and checks that none was kplex's.
func deleteAdmissionObjects(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ar := cs.AdmissionregistrationV1()
	vw, err := ar.ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := ar.MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vp, err := ar.ValidatingAdmissionPolicies().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(vw.Items) + len(mw.Items) + len(vp.Items); n != 0 {
		t.Errorf("%d admission objects in a fresh virtual cluster, want none: the policy must not be an object", n)
	}
	all := metav1.ListOptions{}
	for _, del := range []func() error{
		func() error {
			return ar.ValidatingWebhookConfigurations().DeleteCollection(ctx, metav1.DeleteOptions{}, all)
		},
		func() error {
			return ar.MutatingWebhookConfigurations().DeleteCollection(ctx, metav1.DeleteOptions{}, all)
		},
		func() error {
			return ar.ValidatingAdmissionPolicies().DeleteCollection(ctx, metav1.DeleteOptions{}, all)
		},
		func() error {
			return ar.ValidatingAdmissionPolicyBindings().DeleteCollection(ctx, metav1.DeleteOptions{}, all)
		},
	} {
		if err := del(); err != nil {
			t.Fatal(err)
		}
	}
}

func tenantService(ns, name string, typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80}}}}
}

func privilegedDeployment(ns string) *appsv1.Deployment {
	p := privilegedTestPod(ns, "priv")
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "priv"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: p.Labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: p.Labels}, Spec: p.Spec}}}
}

// anyNodeAffinity is the node affinity a local PersistentVolume must have to be valid.
func anyNodeAffinity() *corev1.VolumeNodeAffinity {
	return &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpExists}}}}}}
}

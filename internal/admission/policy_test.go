package admission

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sadmission "k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// restrictedPod passes the restricted level.
func restrictedPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{Name: "app", Image: "busybox", SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			}}},
		},
	}
}

// rootPod is what most images do when nothing is set: it passes baseline, not restricted.
func rootPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
	}
}

func withPod(base func() *corev1.Pod, f func(*corev1.Pod)) *corev1.Pod {
	p := base()
	f(p)
	return p
}

func TestPodLevels(t *testing.T) {
	hostPath := func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
	}
	for _, tc := range []struct {
		name  string
		level string
		pod   *corev1.Pod
		want  []string // substrings of the refusal; none: accepted
	}{
		{"compliant restricted pod", "", restrictedPod(), nil},
		{"privileged", "", withPod(restrictedPod, func(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true) }),
			[]string{`violates PodSecurity "restricted:latest"`, `privileged (container "app" must not set securityContext.privileged=true)`}},
		{"privileged at baseline", "baseline", withPod(rootPod, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		}), []string{`"baseline:latest"`, "securityContext.privileged=true"}},
		{"hostPath volume", "", withPod(restrictedPod, hostPath), []string{`volume "root" uses restricted volume type "hostPath"`}},
		{"hostPath volume at baseline", "baseline", withPod(rootPod, hostPath), []string{`hostPath volumes (volume "root")`}},
		{"hostNetwork", "baseline", withPod(rootPod, func(p *corev1.Pod) { p.Spec.HostNetwork = true }), []string{"hostNetwork=true"}},
		{"hostPID", "baseline", withPod(rootPod, func(p *corev1.Pod) { p.Spec.HostPID = true }), []string{"hostPID=true"}},
		{"hostIPC", "baseline", withPod(rootPod, func(p *corev1.Pod) { p.Spec.HostIPC = true }), []string{"hostIPC=true"}},
		{"hostPort", "baseline", withPod(rootPod, func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		}), []string{"hostPort"}},
		{"added SYS_ADMIN", "baseline", withPod(rootPod, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}
		}), []string{`non-default capabilities (container "app" must not include "SYS_ADMIN"`}},
		{"added NET_RAW at restricted", "", withPod(restrictedPod, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_RAW"}
		}), []string{"unrestricted capabilities", "NET_RAW"}},
		{"allowPrivilegeEscalation", "", withPod(restrictedPod, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		}), []string{"allowPrivilegeEscalation != false", "securityContext.allowPrivilegeEscalation=false"}},
		{"runs as root at restricted", "", rootPod(), []string{"runAsNonRoot != true", "seccompProfile"}},
		{"runAsUser 0 at restricted", "", withPod(restrictedPod, func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr.To[int64](0) }),
			[]string{"runAsUser=0"}},
		{"root without seccomp at baseline", "baseline", rootPod(), nil},
		{"nodeName picks a host node", "baseline", withPod(rootPod, func(p *corev1.Pod) { p.Spec.NodeName = "control-plane-1" }),
			[]string{`spec.nodeName "control-plane-1" is not allowed`}},
		{"seccomp Unconfined at baseline", "baseline", withPod(rootPod, func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
		}), []string{"seccompProfile"}},
		{"unsafe sysctl at baseline", "baseline", withPod(rootPod, func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "kernel.core_pattern", Value: "|/x"}}}
		}), []string{"forbidden sysctls", "kernel.core_pattern"}},
		{"unmasked procMount at baseline", "baseline", withPod(rootPod, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ProcMount: ptr.To(corev1.UnmaskedProcMount)}
		}), []string{"procMount"}},
		{"privileged ephemeral container", "baseline", withPod(rootPod, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}
		}), []string{`container "debug" must not set securityContext.privileged=true`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPolicy(Config{PodSecurityLevel: tc.level})
			if err != nil {
				t.Fatal(err)
			}
			got := p.Pod(nil, &tc.pod.ObjectMeta, &tc.pod.Spec)
			if len(tc.want) == 0 && got != "" {
				t.Fatalf("refused: %s", got)
			}
			if len(tc.want) != 0 && got == "" {
				t.Fatal("accepted, want refused")
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("refusal %q does not name %q", got, w)
				}
			}
		})
	}
}

func TestNamespaceLabelOnlyRaises(t *testing.T) {
	enforce := func(l string) map[string]string { return map[string]string{"pod-security.kubernetes.io/enforce": l} }
	for _, tc := range []struct {
		cfg, label, want string
	}{
		{"restricted", "privileged", "restricted"},
		{"restricted", "baseline", "restricted"},
		{"baseline", "privileged", "baseline"},
		{"baseline", "restricted", "restricted"},
		{"baseline", "nonsense", "baseline"},
		{"", "", "restricted"},
	} {
		p, err := NewPolicy(Config{PodSecurityLevel: tc.cfg})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Level(enforce(tc.label)); string(got) != tc.want {
			t.Errorf("configured %q, namespace label %q: level %q, want %q", tc.cfg, tc.label, got, tc.want)
		}
	}
	p, _ := NewPolicy(Config{PodSecurityLevel: "baseline"})
	if why := p.Pod(enforce("restricted"), &rootPod().ObjectMeta, &rootPod().Spec); !strings.Contains(why, `"restricted:latest"`) {
		t.Errorf("root pod in a namespace labelled restricted: %q, want refused at restricted", why)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{PodSecurityLevel: "privileged"}.Validate()
	if err == nil || !strings.Contains(err.Error(), "--pod-security") {
		t.Fatalf("privileged level: %v, want an error naming --pod-security", err)
	}
}

func TestServices(t *testing.T) {
	svc := func(typ corev1.ServiceType) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{Type: typ, Ports: []corev1.ServicePort{{Port: 80}}}}
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		svc  *corev1.Service
		want string
	}{
		{"ClusterIP", Config{}, svc(corev1.ServiceTypeClusterIP), ""},
		{"ExternalName", Config{}, svc(corev1.ServiceTypeExternalName), ""},
		{"NodePort refused", Config{}, svc(corev1.ServiceTypeNodePort), `spec.type "NodePort" is not allowed`},
		{"NodePort allowed", Config{AllowNodePorts: true}, svc(corev1.ServiceTypeNodePort), ""},
		{"LoadBalancer refused", Config{AllowNodePorts: true}, svc(corev1.ServiceTypeLoadBalancer), "--allow-load-balancers"},
		{"LoadBalancer allowed", Config{AllowLoadBalancers: true}, svc(corev1.ServiceTypeLoadBalancer), ""},
		{"externalIPs refused", Config{AllowNodePorts: true, AllowLoadBalancers: true}, func() *corev1.Service {
			s := svc(corev1.ServiceTypeClusterIP)
			s.Spec.ExternalIPs = []string{"10.0.0.1"}
			return s
		}(), "spec.externalIPs"},
	} {
		p, _ := NewPolicy(tc.cfg)
		got := p.Service(tc.svc)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPersistentVolumes(t *testing.T) {
	p, _ := NewPolicy(Config{})
	for _, tc := range []struct {
		src  corev1.PersistentVolumeSource
		want string
	}{
		{corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}, "spec.hostPath"},
		{corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/var/lib"}}, "spec.local"},
		{corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "10.0.0.1", Path: "/"}}, "spec.nfs"},
		{corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "x", VolumeHandle: "y"}}, ""},
	} {
		got := p.PersistentVolume(&corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: tc.src}})
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.src, got, tc.want)
		}
	}
}

// TestPlugin goes through admission attributes as the API server builds them.
func TestPlugin(t *testing.T) {
	client := fake.NewSimpleClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}}})
	p, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.SetExternalKubeClientSet(client)
	admit := func(op k8sadmission.Operation, resource, sub string, obj, old runtime.Object) error {
		gvr := corev1.SchemeGroupVersion.WithResource(resource)
		a := k8sadmission.NewAttributesRecord(obj, old, corev1.SchemeGroupVersion.WithKind("X"), "app", "x", gvr, sub, op, nil, false, &user.DefaultInfo{Name: "tenant"})
		return p.Validate(context.Background(), a, nil)
	}
	priv := withPod(restrictedPod, func(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true) })
	if err := admit(k8sadmission.Create, "pods", "", priv, nil); err == nil || !strings.Contains(err.Error(), "securityContext.privileged=true") {
		t.Errorf("privileged pod in a namespace labelled privileged: %v, want refused", err)
	}
	if err := admit(k8sadmission.Create, "pods", "", restrictedPod(), nil); err != nil {
		t.Errorf("restricted pod: %v", err)
	}
	if err := admit(k8sadmission.Update, "pods", "status", priv, priv); err != nil {
		t.Errorf("status update: %v", err)
	}
	// An admitted pod that became non-compliant (level raised since) can still be updated...
	relabelled := priv.DeepCopy()
	relabelled.Labels = map[string]string{"x": "y"}
	if err := admit(k8sadmission.Update, "pods", "", relabelled, priv); err != nil {
		t.Errorf("label update of an old pod: %v", err)
	}
	// ...but not made worse.
	debug := withPod(restrictedPod, func(p *corev1.Pod) {
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "busybox", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}
	})
	if err := admit(k8sadmission.Update, "pods", "ephemeralcontainers", debug, restrictedPod()); err == nil {
		t.Error("privileged ephemeral container accepted")
	}
	np := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}}
	if err := admit(k8sadmission.Update, "services", "", np, &corev1.Service{}); err == nil || !strings.Contains(err.Error(), "NodePort") {
		t.Errorf("update to NodePort: %v, want refused", err)
	}
	ing := func(op k8sadmission.Operation, sub string, old runtime.Object) error {
		a := k8sadmission.NewAttributesRecord(&networkingv1.Ingress{}, old, networkingv1.SchemeGroupVersion.WithKind("Ingress"), "app", "x",
			networkingv1.SchemeGroupVersion.WithResource("ingresses"), sub, op, nil, false, &user.DefaultInfo{Name: "tenant"})
		return p.Validate(context.Background(), a, nil)
	}
	if err := ing(k8sadmission.Create, "", nil); err == nil || !strings.Contains(err.Error(), "kplexd --allow-ingresses") {
		t.Errorf("Ingress without --allow-ingresses: %v, want refused naming the flag", err)
	}
	// An Ingress admitted before the host admin withdrew the right can still be finalized.
	if err := ing(k8sadmission.Update, "", &networkingv1.Ingress{}); err != nil {
		t.Errorf("update of an existing Ingress: %v", err)
	}
	if err := ing(k8sadmission.Update, "status", &networkingv1.Ingress{}); err != nil {
		t.Errorf("Ingress status: %v", err)
	}
	allowed, err := New(Config{AllowIngresses: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := k8sadmission.NewAttributesRecord(&networkingv1.Ingress{}, nil, networkingv1.SchemeGroupVersion.WithKind("Ingress"), "app", "x",
		networkingv1.SchemeGroupVersion.WithResource("ingresses"), "", k8sadmission.Create, nil, false, &user.DefaultInfo{Name: "tenant"})
	if err := allowed.Validate(context.Background(), a, nil); err != nil {
		t.Errorf("Ingress with --allow-ingresses: %v", err)
	}
}

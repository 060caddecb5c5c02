package pods

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/translate"
)

func testTranslator(t *testing.T) *translate.Translator {
	t.Helper()
	tr, err := translate.New(translate.Tenant{Name: "acme", HostNamespace: "kplex-acme"})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// virtualPod is what the virtual API server stores after its ServiceAccount admission.
func virtualPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", UID: "uid-1", Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{"sidecar.istio.io/inject": "true"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "builder",
			PriorityClassName:  "high", Priority: ptr.To[int32](1000),
			NodeName:         "node-1",
			NodeSelector:     map[string]string{"disk": "ssd"},
			Tolerations:      []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}},
			HostNetwork:      true,
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
			Volumes: []corev1.Volume{
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
				{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "web-tls"}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}}},
				{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					DefaultMode: ptr.To[int32](0o644),
					Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
					},
				}}},
				{Name: "vault", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "vault-token", Audience: "vault"}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "vault-ca"}}},
				}}}},
			},
			Containers: []corev1.Container{{
				Name: "app", Image: "web:1",
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
				EnvFrom: []corev1.EnvFromSource{
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "env-cm"}}},
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "env-secret"}}},
				},
				Env: []corev1.EnvVar{
					{Name: "LEVEL", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}, Key: "level"}}},
					{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
					{Name: "KUBERNETES_SERVICE_PORT", Value: "8443"},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access-abcde", MountPath: ServiceAccountMountPath, ReadOnly: true}},
			}},
		},
	}
}

func TestHostPod(t *testing.T) {
	tr := testTranslator(t)
	v := virtualPod()
	before := v.DeepCopy()
	h, needsToken := HostPod(tr, v, RewriteOptions{APIHost: "10.0.0.5", APIPort: "6443"})
	if !needsToken {
		t.Error("needsToken = false for a pod with a service-account volume")
	}
	if v.Spec.Volumes[0].ConfigMap.Name != before.Spec.Volumes[0].ConfigMap.Name {
		t.Error("HostPod modified its input")
	}
	rn := func(n string) string { return tr.HostName("shop", n) }

	if h.Name != rn("web-0") || h.Namespace != "kplex-acme" {
		t.Errorf("host pod is %s/%s", h.Namespace, h.Name)
	}
	if ns, name, uid, ok := tr.VirtualRef(h); !ok || ns != "shop" || name != "web-0" || uid != "uid-1" {
		t.Errorf("VirtualRef = %s %s %s %v", ns, name, uid, ok)
	}
	if _, ok := h.Annotations["sidecar.istio.io/inject"]; ok {
		t.Error("tenant annotation copied to the host")
	}
	s := h.Spec
	if s.ServiceAccountName != "" || s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		t.Errorf("host service account: name %q automount %v", s.ServiceAccountName, s.AutomountServiceAccountToken)
	}
	if s.EnableServiceLinks == nil || *s.EnableServiceLinks {
		t.Error("enableServiceLinks not false")
	}
	if s.PriorityClassName != "" || s.Priority != nil {
		t.Error("priority copied to the host")
	}
	if s.Hostname != "web-0" {
		t.Errorf("hostname = %q", s.Hostname)
	}
	// Passed through as they are (admission confines them later).
	if s.NodeSelector["disk"] != "ssd" || len(s.Tolerations) != 1 || !s.HostNetwork ||
		!*s.Containers[0].SecurityContext.Privileged {
		t.Error("scheduling or host-sensitive fields not passed through")
	}
	if s.ImagePullSecrets[0].Name != rn("regcred") {
		t.Errorf("image pull secret = %s", s.ImagePullSecrets[0].Name)
	}
	vol := map[string]corev1.Volume{}
	for _, x := range s.Volumes {
		vol[x.Name] = x
	}
	if got := vol["cfg"].ConfigMap.Name; got != rn("web-config") {
		t.Errorf("configmap volume = %s", got)
	}
	if got := vol["tls"].Secret.SecretName; got != rn("web-tls") {
		t.Errorf("secret volume = %s", got)
	}
	if got := vol["data"].PersistentVolumeClaim.ClaimName; got != rn("data-web-0") {
		t.Errorf("pvc volume = %s", got)
	}
	// The virtual cluster creates web-0-scratch; the host pod mounts its copy.
	if eph := vol["scratch"]; eph.Ephemeral != nil || eph.PersistentVolumeClaim == nil || eph.PersistentVolumeClaim.ClaimName != rn("web-0-scratch") {
		t.Errorf("ephemeral volume = %+v, want the host copy of claim web-0-scratch", eph.VolumeSource)
	}
	sa := vol["kube-api-access-abcde"]
	if sa.Secret == nil || sa.Projected != nil || sa.Secret.SecretName != TokenSecretName(tr, "shop", "web-0") || len(sa.Secret.Items) != 3 || *sa.Secret.DefaultMode != 0o644 {
		t.Errorf("service-account volume = %+v", sa.VolumeSource)
	}
	vault := vol["vault"].Projected.Sources
	if len(vault) != 1 || vault[0].Secret == nil || vault[0].Secret.Name != rn("vault-ca") {
		t.Errorf("projected volume with a foreign-audience token = %+v", vault)
	}

	c := s.Containers[0]
	if c.EnvFrom[0].ConfigMapRef.Name != rn("env-cm") || c.EnvFrom[1].SecretRef.Name != rn("env-secret") {
		t.Error("envFrom not renamed")
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("duplicate env %s", e.Name)
		}
		env[e.Name] = e
	}
	if env["LEVEL"].ValueFrom.ConfigMapKeyRef.Name != rn("web-config") || env["PASSWORD"].ValueFrom.SecretKeyRef.Name != rn("db") {
		t.Error("env references not renamed")
	}
	if env["POD_NAME"].Value != "web-0" || env["POD_NAMESPACE"].Value != "shop" || env["POD_IP"].ValueFrom == nil {
		t.Errorf("downward API env: %+v %+v %+v", env["POD_NAME"], env["POD_NAMESPACE"], env["POD_IP"])
	}
	if env["KUBERNETES_SERVICE_HOST"].Value != "10.0.0.5" || env["KUBERNETES_PORT_6443_TCP_ADDR"].Value != "10.0.0.5" {
		t.Error("KUBERNETES_* do not point at the tenant API")
	}
	if env["KUBERNETES_SERVICE_PORT"].Value != "8443" {
		t.Error("a container's own variable must win over kplex's")
	}
}

func TestHostPodWithoutToken(t *testing.T) {
	v := virtualPod()
	v.Spec.Volumes = v.Spec.Volumes[:3]
	h, needsToken := HostPod(testTranslator(t), v, RewriteOptions{})
	if needsToken {
		t.Error("needsToken for a pod without a service-account volume")
	}
	for _, e := range h.Spec.Containers[0].Env {
		if e.Name == "KUBERNETES_SERVICE_HOST" {
			t.Error("KUBERNETES_SERVICE_HOST set with no tenant API address")
		}
	}
}

// A virtual pod's node (which the tenant can set through pods/binding) reaches the host
// only as a required affinity the host scheduler checks, never as spec.nodeName.
func TestNodeNameBecomesAffinity(t *testing.T) {
	tr := testTranslator(t)
	pinned := func(term corev1.NodeSelectorTerm, node string) bool {
		return slices.ContainsFunc(term.MatchFields, func(r corev1.NodeSelectorRequirement) bool {
			return r.Key == "metadata.name" && r.Operator == corev1.NodeSelectorOpIn && slices.Equal(r.Values, []string{node})
		})
	}
	t.Run("no affinity of its own", func(t *testing.T) {
		h, _ := HostPod(tr, virtualPod(), RewriteOptions{})
		if h.Spec.NodeName != "" {
			t.Fatalf("host pod nodeName = %q, want empty (the host scheduler places it)", h.Spec.NodeName)
		}
		terms := h.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || !pinned(terms[0], "node-1") {
			t.Fatalf("node affinity terms %+v, want one pinning node-1", terms)
		}
	})
	t.Run("tenant terms still hold", func(t *testing.T) {
		v := virtualPod()
		zone := corev1.NodeSelectorRequirement{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}
		disk := corev1.NodeSelectorRequirement{Key: "disk", Operator: corev1.NodeSelectorOpExists}
		v.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{zone}}, {MatchExpressions: []corev1.NodeSelectorRequirement{disk}}},
		}}}
		h, _ := HostPod(tr, v, RewriteOptions{})
		terms := h.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 2 || !pinned(terms[0], "node-1") || !pinned(terms[1], "node-1") ||
			terms[0].MatchExpressions[0].Key != "zone" || terms[1].MatchExpressions[0].Key != "disk" {
			t.Fatalf("node affinity terms %+v, want both tenant terms, each also pinning node-1", terms)
		}
		if v.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields != nil {
			t.Error("the virtual pod was modified")
		}
	})
	t.Run("unbound", func(t *testing.T) {
		v := virtualPod()
		v.Spec.NodeName = ""
		h, _ := HostPod(tr, v, RewriteOptions{})
		if h.Spec.Affinity != nil {
			t.Errorf("affinity %+v on an unbound pod's copy", h.Spec.Affinity)
		}
	})
}

func TestSpecHashes(t *testing.T) {
	tr := testTranslator(t)
	base, _ := HostPod(tr, virtualPod(), RewriteOptions{})
	for _, tc := range []struct {
		name        string
		change      func(*corev1.Pod)
		same, fixed bool
	}{
		{"nothing", func(*corev1.Pod) {}, true, true},
		{"image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "web:2" }, false, true},
		{"toleration", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "x", Operator: corev1.TolerationOpExists})
		}, false, true},
		{"command", func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"sh"} }, false, false},
		{"labels only", func(p *corev1.Pod) { p.Labels["tier"] = "front" }, true, true},
		{"bound to a node", func(p *corev1.Pod) { p.Spec.NodeName = "node-2" }, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := virtualPod()
			tc.change(v)
			h, _ := HostPod(tr, v, RewriteOptions{ServiceEnv: ServiceEnv([]corev1.Service{svc("db", "10.96.0.20", 5432)})})
			if got := h.Annotations[AnnotationSpecHash] == base.Annotations[AnnotationSpecHash]; got != tc.same {
				t.Errorf("spec hash unchanged = %v, want %v", got, tc.same)
			}
			if got := h.Annotations[AnnotationFixedSpecHash] == base.Annotations[AnnotationFixedSpecHash]; got != tc.fixed {
				t.Errorf("fixed hash unchanged = %v, want %v", got, tc.fixed)
			}
		})
	}
}

func svc(name, ip string, port int32) corev1.Service {
	return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Name: "main", Port: port, Protocol: corev1.ProtocolTCP}}}}
}

func TestServiceEnv(t *testing.T) {
	env := ServiceEnv([]corev1.Service{
		svc("redis-primary", "10.96.0.11", 6379),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: "None", Ports: []corev1.ServicePort{{Port: 80}}}},
	})
	got := map[string]string{}
	for _, e := range env {
		got[e.Name] = e.Value
	}
	want := map[string]string{
		"REDIS_PRIMARY_SERVICE_HOST":        "10.96.0.11",
		"REDIS_PRIMARY_SERVICE_PORT":        "6379",
		"REDIS_PRIMARY_SERVICE_PORT_MAIN":   "6379",
		"REDIS_PRIMARY_PORT":                "tcp://10.96.0.11:6379",
		"REDIS_PRIMARY_PORT_6379_TCP":       "tcp://10.96.0.11:6379",
		"REDIS_PRIMARY_PORT_6379_TCP_PROTO": "tcp",
		"REDIS_PRIMARY_PORT_6379_TCP_PORT":  "6379",
		"REDIS_PRIMARY_PORT_6379_TCP_ADDR":  "10.96.0.11",
	}
	if len(got) != len(want) {
		t.Errorf("got %d variables, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestRefs(t *testing.T) {
	v := virtualPod()
	cms, secs := ConfigMapRefs(v), SecretRefs(v)
	if want := []string{"env-cm", "web-config"}; !equal(cms, want) {
		t.Errorf("ConfigMapRefs = %v, want %v (kube-root-ca.crt comes with the token)", cms, want)
	}
	if want := []string{"db", "env-secret", "regcred", "vault-ca", "web-tls"}; !equal(secs, want) {
		t.Errorf("SecretRefs = %v, want %v", secs, want)
	}
}

func TestVirtualStatus(t *testing.T) {
	now := metav1.Now()
	v := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort}}
	h := corev1.PodStatus{Phase: corev1.PodRunning, QOSClass: corev1.PodQOSGuaranteed, PodIP: "10.244.0.5", PodIPs: []corev1.PodIP{{IP: "10.244.0.5"}},
		HostIP: "192.168.1.2", StartTime: &now, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 3, Ready: true}}}
	s := VirtualStatus(v, &h)
	if s.Phase != corev1.PodRunning || s.PodIP != "10.244.0.5" || s.HostIP != "192.168.1.2" || s.StartTime == nil ||
		len(s.Conditions) != 1 || s.ContainerStatuses[0].RestartCount != 3 {
		t.Errorf("status not copied: %+v", s)
	}
	if s.QOSClass != corev1.PodQOSBestEffort {
		t.Error("QoS class must stay the virtual API server's")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

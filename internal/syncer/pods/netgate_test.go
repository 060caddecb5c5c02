package pods

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/internal/podsecurity"
)

var testGate = NetworkGate{Image: "localhost/kplex/kplexd:dev", Probe: "10.96.0.1:443"}

func gatedPod(initNames ...string) *corev1.Pod {
	v := virtualPod()
	for _, n := range initNames {
		v.Spec.InitContainers = append(v.Spec.InitContainers, corev1.Container{Name: n, Image: "init:1"})
	}
	return v
}

func TestHostPodNetworkGate(t *testing.T) {
	tr := testTranslator(t)
	opts := RewriteOptions{APIHost: "10.0.0.5", APIPort: "6443", Gate: testGate,
		ServiceEnv: ServiceEnv([]corev1.Service{svc("db", "10.96.0.20", 5432)})}
	h, _ := HostPod(tr, gatedPod("migrate"), opts)
	ic := h.Spec.InitContainers
	if len(ic) != 2 || ic[0].Name != GateName || ic[1].Name != "migrate" {
		t.Fatalf("init containers %v, want the gate first, then the tenant's", names(ic))
	}
	g := ic[0]
	if g.Image != testGate.Image || g.ImagePullPolicy != corev1.PullIfNotPresent ||
		strings.Join(g.Command, " ") != "/kplex-netgate --probe=10.96.0.1:443" || len(g.Args) != 0 {
		t.Errorf("gate runs %s %v (%s)", g.Image, g.Command, g.ImagePullPolicy)
	}
	// Nothing of the tenant's: only the node's name, no mounts (no token), no env sources.
	if len(g.Env) != 1 || g.Env[0].Name != "NODE_NAME" || g.Env[0].ValueFrom.FieldRef.FieldPath != "spec.nodeName" ||
		len(g.EnvFrom) != 0 || len(g.VolumeMounts) != 0 || len(g.VolumeDevices) != 0 {
		t.Errorf("gate env %v envFrom %v mounts %v", g.Env, g.EnvFrom, g.VolumeMounts)
	}
	sc := g.SecurityContext
	if sc == nil || !*sc.RunAsNonRoot || *sc.RunAsUser != 65532 || *sc.AllowPrivilegeEscalation || *sc.Privileged ||
		!*sc.ReadOnlyRootFilesystem || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
		sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("gate security context %+v", sc)
	}
	for _, l := range []corev1.ResourceList{g.Resources.Requests, g.Resources.Limits} {
		if l.Cpu().Cmp(resource.MustParse("50m")) != 0 || l.Memory().Cmp(resource.MustParse("16Mi")) != 0 {
			t.Errorf("gate resources %v", g.Resources)
		}
	}
	// The tenant's own containers still get their variables.
	if !hasEnv(ic[1].Env, "DB_SERVICE_HOST") || !hasEnv(h.Spec.Containers[0].Env, "KUBERNETES_SERVICE_HOST") {
		t.Error("tenant containers lost their environment")
	}

	// Under the restricted Pod Security level the gate itself raises nothing.
	spec := &corev1.PodSpec{InitContainers: []corev1.Container{g}, Containers: []corev1.Container{g}}
	spec.Containers[0].Name = "x"
	if r, err := podsecurity.RestrictedViolations(&metav1.ObjectMeta{}, spec); err != nil || len(r) != 0 {
		t.Errorf("gate is not restricted-compliant: %v %v", r, err)
	}

	t.Run("no image, no gate", func(t *testing.T) {
		h, _ := HostPod(tr, gatedPod("migrate"), RewriteOptions{})
		if len(h.Spec.InitContainers) != 1 {
			t.Errorf("init containers %v without a gate image", names(h.Spec.InitContainers))
		}
	})
	t.Run("pod-level resources", func(t *testing.T) {
		v := gatedPod()
		v.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Mi")}}
		h, _ := HostPod(tr, v, opts)
		if r := h.Spec.InitContainers[0].Resources; len(r.Requests)+len(r.Limits) != 0 {
			t.Errorf("gate resources %v inside pod-level resources", r)
		}
	})
}

// A tenant container of the gate's name makes the gate pick another: the host pod stays
// valid and the tenant's container keeps its name (kubectl logs -c works).
func TestHostPodNetworkGateName(t *testing.T) {
	tr := testTranslator(t)
	v := gatedPod(GateName, GateName+"-1")
	v.Spec.Containers = append(v.Spec.Containers, corev1.Container{Name: GateName + "-2", Image: "x"})
	h, _ := HostPod(tr, v, RewriteOptions{Gate: testGate})
	if got := names(h.Spec.InitContainers); strings.Join(got, ",") != "kplex-netgate-3,kplex-netgate,kplex-netgate-1" {
		t.Errorf("init containers %v", got)
	}
}

func TestSpecHashesIgnoreTheGate(t *testing.T) {
	tr := testTranslator(t)
	plain, _ := HostPod(tr, gatedPod("migrate"), RewriteOptions{})
	gated, _ := HostPod(tr, gatedPod("migrate"), RewriteOptions{Gate: testGate})
	other, _ := HostPod(tr, gatedPod("migrate"), RewriteOptions{Gate: NetworkGate{Image: "kplexd:2", Probe: "10.96.0.1:443"}})
	for _, a := range []string{AnnotationSpecHash, AnnotationFixedSpecHash} {
		if plain.Annotations[a] != gated.Annotations[a] || gated.Annotations[a] != other.Annotations[a] {
			t.Errorf("%s changes with the gate: running pods would be replaced or updated", a)
		}
	}
}

// applyMutable matches containers by name: a host pod made before the gate was turned on
// (one init container fewer) gets the tenant's new images in the right places.
func TestApplyMutableWithGate(t *testing.T) {
	tr := testTranslator(t)
	for _, tc := range []struct {
		name string
		host RewriteOptions
	}{{"host pod with gate", RewriteOptions{Gate: testGate}}, {"host pod from before the gate", RewriteOptions{}}} {
		t.Run(tc.name, func(t *testing.T) {
			host, _ := HostPod(tr, gatedPod("migrate", "seed"), tc.host)
			v := gatedPod("migrate", "seed")
			v.Spec.InitContainers[1].Image = "seed:2"
			v.Spec.Containers[0].Image = "web:2"
			desired, _ := HostPod(tr, v, RewriteOptions{Gate: testGate})
			if desired.Annotations[AnnotationFixedSpecHash] != host.Annotations[AnnotationFixedSpecHash] {
				t.Fatal("an image change must be applied in place")
			}
			upd := host.Spec.DeepCopy()
			applyMutable(upd, &desired.Spec)
			images := map[string]string{}
			for _, c := range append(upd.InitContainers, upd.Containers...) {
				images[c.Name] = c.Image
			}
			want := map[string]string{"migrate": "init:1", "seed": "seed:2", "app": "web:2"}
			if len(upd.InitContainers) == 3 {
				want[GateName] = testGate.Image
			}
			if len(images) != len(want) {
				t.Errorf("containers %v, want %v", images, want)
			}
			for n, img := range want {
				if images[n] != img {
					t.Errorf("%s runs %q, want %q", n, images[n], img)
				}
			}
		})
	}
}

func TestVirtualStatusHidesTheGate(t *testing.T) {
	v := gatedPod("migrate")
	cond := func(msg string) []corev1.PodCondition {
		return []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionFalse, Reason: "ContainersNotInitialized", Message: msg}}
	}
	failed := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1,
		Message: "network policy not in effect for this pod after 60s: 10.96.0.1:443 still accepts connections; is a NetworkPolicy enforcer running on node n1?\n"}}
	for _, tc := range []struct {
		name     string
		gate     corev1.ContainerStatus
		msg      string
		wantMsg  string
		wantInit int
	}{
		{"gate waiting", corev1.ContainerStatus{Name: GateName}, "containers with incomplete status: [kplex-netgate migrate]",
			"containers with incomplete status: [migrate]", 1},
		{"only the gate left", corev1.ContainerStatus{Name: GateName}, "containers with incomplete status: [kplex-netgate]", gateWaiting, 1},
		{"gate failed", corev1.ContainerStatus{Name: GateName, LastTerminationState: failed}, "containers with incomplete status: [kplex-netgate]",
			gateWaiting + ": network policy not in effect for this pod after 60s: 10.96.0.1:443 still accepts connections; is a NetworkPolicy enforcer running on node n1?", 1},
		{"tenant message untouched", corev1.ContainerStatus{Name: GateName}, "containers with incomplete status: [migrate]",
			"containers with incomplete status: [migrate]", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := corev1.PodStatus{Phase: corev1.PodPending, Conditions: cond(tc.msg),
				InitContainerStatuses: []corev1.ContainerStatus{tc.gate, {Name: "migrate"}}}
			s := VirtualStatus(v, &h)
			if len(s.InitContainerStatuses) != tc.wantInit || s.InitContainerStatuses[0].Name != "migrate" {
				t.Errorf("init container statuses %+v", s.InitContainerStatuses)
			}
			if s.Conditions[0].Message != tc.wantMsg {
				t.Errorf("message %q, want %q", s.Conditions[0].Message, tc.wantMsg)
			}
			if h.InitContainerStatuses[0].Name != GateName || h.Conditions[0].Message != tc.msg {
				t.Error("VirtualStatus modified the host status")
			}
		})
	}
	t.Run("tenant init container of the gate's name", func(t *testing.T) {
		v := gatedPod(GateName)
		h := corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{{Name: GateName + "-1"}, {Name: GateName}}}
		if s := VirtualStatus(v, &h); len(s.InitContainerStatuses) != 1 || s.InitContainerStatuses[0].Name != GateName {
			t.Errorf("init container statuses %+v, want the tenant's only", s.InitContainerStatuses)
		}
	})
}

func names(cs []corev1.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

func hasEnv(env []corev1.EnvVar, name string) bool {
	return slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
}

package pods

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/netgate"
)

// NetworkGate is the init container the syncer puts before every tenant container (init
// containers included): cmd/kplex-netgate, which exits 0 only once the pod's egress
// network policy is in effect (docs/security.md). Host enforcers program a new pod's
// rules a moment after its network is up; without the gate the tenant's first
// instructions would run unfiltered.
type NetworkGate struct {
	// Image holds /kplex-netgate (the kplexd image). Empty: no gate.
	Image string
	// Probe is host:port of an address tenant pods are always denied and that accepts
	// connections otherwise: the host API server's Service address.
	Probe string
}

// GateName is the gate container's name unless the tenant's pod has a container of that
// name (gateName).
const GateName = "kplex-netgate"

// gateResources are small and equal (requests = limits), so that the gate never lowers a
// pod's QoS class; an init container's requests count only up to the largest one.
func gateResources() corev1.ResourceRequirements {
	l := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	return corev1.ResourceRequirements{Requests: l, Limits: l.DeepCopy()}
}

// gateName is GateName, or GateName-N for the first N that no container of spec uses:
// every container name is the tenant's to choose, and the virtual pod's names never
// change, so the host pod's gate keeps its name.
func gateName(spec *corev1.PodSpec) string {
	taken := map[string]bool{}
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range list {
			taken[c.Name] = true
		}
	}
	for _, c := range spec.EphemeralContainers {
		taken[c.Name] = true
	}
	name := GateName
	for n := 1; taken[name]; n++ {
		name = GateName + "-" + strconv.Itoa(n)
	}
	return name
}

// container is the gate for a pod: nothing of the tenant's (no environment, no volume,
// no service-account token), restricted Pod Security settings that override the pod's,
// and the node's name for its failure message. With pod-level resources the gate takes
// its share of them rather than adding its own, which could exceed them.
func (g NetworkGate) container(name string, podLevelResources bool) corev1.Container {
	c := corev1.Container{
		Name:            name,
		Image:           g.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{netgate.Binary, "--probe=" + g.Probe},
		Env: []corev1.EnvVar{{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}}},
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](65532),
			RunAsGroup:               ptr.To[int64](65532),
			AllowPrivilegeEscalation: ptr.To(false),
			Privileged:               ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	if !podLevelResources {
		c.Resources = gateResources()
	}
	return c
}

// withGate puts the gate before every other container of spec.
func withGate(spec *corev1.PodSpec, g NetworkGate, name string) {
	spec.InitContainers = append([]corev1.Container{g.container(name, spec.Resources != nil)}, spec.InitContainers...)
}

// gateWaiting is what the virtual pod's conditions say while only the gate holds the pod.
const gateWaiting = "waiting for the host's network policy to take effect for this pod"

// hideContainers removes the names in hidden from a kubelet condition message such as
// "containers with incomplete status: [kplex-netgate app]". It reports whether it removed
// any; the message is empty when no name is left.
func hideContainers(msg string, hidden map[string]bool) (string, bool) {
	open, end := strings.LastIndexByte(msg, '['), strings.LastIndexByte(msg, ']')
	if open < 0 || end < open {
		return msg, false
	}
	names := strings.Fields(msg[open+1 : end])
	kept := names[:0:0]
	for _, n := range names {
		if !hidden[n] {
			kept = append(kept, n)
		}
	}
	if len(kept) == len(names) {
		return msg, false
	}
	if len(kept) == 0 {
		return "", true
	}
	return msg[:open+1] + strings.Join(kept, " ") + msg[end:], true
}

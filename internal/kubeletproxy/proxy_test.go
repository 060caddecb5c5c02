package kubeletproxy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Only the containers the tenant defined and the host runs are served: an ephemeral
// container named after the network gate must not reach the gate.
func TestHasContainer(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers:      []corev1.Container{{Name: "migrate"}},
		Containers:          []corev1.Container{{Name: "app"}},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "kplex-netgate"}}},
	}}
	for name, want := range map[string]bool{"app": true, "migrate": true, "kplex-netgate": false, "other": false} {
		if got := hasContainer(p, name); got != want {
			t.Errorf("hasContainer(%q) = %v, want %v", name, got, want)
		}
	}
}

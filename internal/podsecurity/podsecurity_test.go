package podsecurity

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestRestrictedViolations: a pod with no security context is refused, so a passing check
// of kplex's pods means something.
func TestRestrictedViolations(t *testing.T) {
	spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}
	v, err := RestrictedViolations(&metav1.ObjectMeta{}, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) < 3 {
		t.Fatalf("a pod without a security context passes restricted: %v", v)
	}
}

// TestRestrict: a spec with nothing set passes once restricted, and a user it names is kept.
func TestRestrict(t *testing.T) {
	spec := &corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)},
		InitContainers:  []corev1.Container{{Name: "init", Image: "busybox"}},
		Containers:      []corev1.Container{{Name: "app", Image: "busybox"}},
	}
	Restrict(spec)
	if v, err := RestrictedViolations(&metav1.ObjectMeta{}, spec); err != nil || len(v) > 0 {
		t.Fatalf("restricted spec: %v %v", v, err)
	}
	if *spec.SecurityContext.RunAsUser != 1000 {
		t.Errorf("runAsUser %d, want the one set, 1000", *spec.SecurityContext.RunAsUser)
	}
}

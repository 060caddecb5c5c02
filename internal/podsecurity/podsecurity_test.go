package podsecurity

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

package testenv

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// RequireRestricted fails the test unless the pod passes the Pod Security "restricted"
// checks of the admission plugin itself (latest version).
func RequireRestricted(t testing.TB, meta *metav1.ObjectMeta, spec *corev1.PodSpec) {
	t.Helper()
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, r := range eval.EvaluatePod(lv, meta, spec) {
		if !r.Allowed {
			t.Error(fmt.Sprintf("pod security restricted: %s: %s", r.ForbiddenReason, r.ForbiddenDetail))
		}
	}
}

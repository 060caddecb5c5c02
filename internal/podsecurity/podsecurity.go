// Package podsecurity checks pod specs against Pod Security "restricted" with the
// admission plugin's own checks, so that kplex's pods are known to be admitted in
// namespaces that enforce it.
package podsecurity

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// RestrictedViolations lists why the pod would be refused under "restricted" (latest).
func RestrictedViolations(meta *metav1.ObjectMeta, spec *corev1.PodSpec) ([]string, error) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, err
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	var out []string
	for _, r := range eval.EvaluatePod(lv, meta, spec) {
		if !r.Allowed {
			out = append(out, r.ForbiddenReason+": "+r.ForbiddenDetail)
		}
	}
	return out, nil
}

// Package podsecurity checks pod specs against Pod Security "restricted" with the
// admission plugin's own checks, so that kplex's pods are known to be admitted in
// namespaces that enforce it.
package podsecurity

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"
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

// Restrict makes a pod spec pass "restricted", as a tenant of a kplex virtual cluster must:
// a non-root user (65534 unless one is set, since test images run as root), the runtime's
// seccomp profile, no privilege escalation and no capabilities.
func Restrict(spec *corev1.PodSpec) {
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	sc := spec.SecurityContext
	sc.RunAsNonRoot = ptr.To(true)
	if sc.RunAsUser == nil {
		sc.RunAsUser = ptr.To[int64](65534)
	}
	sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			if cs[i].SecurityContext == nil {
				cs[i].SecurityContext = &corev1.SecurityContext{}
			}
			cs[i].SecurityContext.AllowPrivilegeEscalation = ptr.To(false)
			cs[i].SecurityContext.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
		}
	}
}

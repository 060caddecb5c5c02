package pods

import (
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ServiceEnv returns the Docker-link variables a kubelet sets for services (as
// k8s.io/kubernetes/pkg/kubelet/envvars does), for the services of one virtual
// namespace. The "kubernetes" service of the default namespace is left out: the pod's
// KUBERNETES_* variables point at the virtual API server as the tenant reaches it.
func ServiceEnv(services []corev1.Service) []corev1.EnvVar {
	sorted := append([]corev1.Service(nil), services...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var env []corev1.EnvVar
	for _, s := range sorted {
		ip := s.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 ||
			(s.Namespace == "default" && s.Name == "kubernetes") {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_")) + "_"
		first := s.Spec.Ports[0]
		env = append(env,
			corev1.EnvVar{Name: name + "SERVICE_HOST", Value: ip},
			corev1.EnvVar{Name: name + "SERVICE_PORT", Value: strconv.Itoa(int(first.Port))})
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				pn := strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))
				env = append(env, corev1.EnvVar{Name: name + "SERVICE_PORT_" + pn, Value: strconv.Itoa(int(p.Port))})
			}
		}
		env = append(env, corev1.EnvVar{Name: name + "PORT", Value: portURL(ip, first)})
		for _, p := range s.Spec.Ports {
			proto := strings.ToUpper(string(p.Protocol))
			if proto == "" {
				proto = "TCP"
			}
			pfx := name + "PORT_" + strconv.Itoa(int(p.Port)) + "_" + proto
			env = append(env,
				corev1.EnvVar{Name: pfx, Value: portURL(ip, p)},
				corev1.EnvVar{Name: pfx + "_PROTO", Value: strings.ToLower(proto)},
				corev1.EnvVar{Name: pfx + "_PORT", Value: strconv.Itoa(int(p.Port))},
				corev1.EnvVar{Name: pfx + "_ADDR", Value: ip})
		}
	}
	return env
}

func portURL(ip string, p corev1.ServicePort) string {
	proto := strings.ToLower(string(p.Protocol))
	if proto == "" {
		proto = "tcp"
	}
	return proto + "://" + joinHostPort(ip, strconv.Itoa(int(p.Port)))
}

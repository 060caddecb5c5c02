package audit

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kplex-dev/kplex/internal/operator"
)

// A tenant allowed node ports or load balancers opens, on purpose, the target ports of the
// pods its NodePort and LoadBalancer Services select, to everyone, other tenants included
// (the operator's kplex-exposed-* policies; docs/security.md, "Services a tenant exposes").
// The network checks aim at what that tenant did not open, so that a connection is always
// a breach, never a publication.

// exposure is what a tenant's exposure policies open: each selects pods and admits anyone
// on its ports.
type exposure []networkingv1.NetworkPolicy

// openedBy names the exposed Service that opens TCP port of pod p, or "".
func (x exposure) openedBy(p *corev1.Pod, port int32) string {
	for i := range x {
		pol := &x[i]
		sel, err := metav1.LabelSelectorAsSelector(&pol.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		for _, r := range pol.Spec.Ingress {
			// A rule for the ingress controllers only admits no other tenant.
			if !fromEveryNamespace(r.From) {
				continue
			}
			if len(r.Ports) == 0 || anyPortAdmits(r.Ports, p, port) {
				return pol.Labels[operator.LabelExposedService]
			}
		}
	}
	return ""
}

// fromEveryNamespace: the peers include every pod of every namespace (an empty list is
// anywhere too), so other tenants' pods.
func fromEveryNamespace(from []networkingv1.NetworkPolicyPeer) bool {
	return len(from) == 0 || slices.ContainsFunc(from, func(p networkingv1.NetworkPolicyPeer) bool {
		return p.NamespaceSelector != nil && p.PodSelector == nil &&
			len(p.NamespaceSelector.MatchLabels)+len(p.NamespaceSelector.MatchExpressions) == 0
	})
}

func anyPortAdmits(ports []networkingv1.NetworkPolicyPort, p *corev1.Pod, port int32) bool {
	for _, np := range ports {
		if np.Protocol != nil && *np.Protocol != corev1.ProtocolTCP {
			continue
		}
		switch {
		case np.Port == nil:
			return true
		case np.Port.Type == intstr.String:
			if namedPort(p, np.Port.StrVal) == port {
				return true
			}
		case np.EndPort != nil:
			if port >= np.Port.IntVal && port <= *np.EndPort {
				return true
			}
		case np.Port.IntVal == port:
			return true
		}
	}
	return false
}

// namedPort is the number of p's TCP container port called name, or 0.
func namedPort(p *corev1.Pod, name string) int32 {
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == name && (cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP) {
				return cp.ContainerPort
			}
		}
	}
	return 0
}

// tcpPorts are p's declared TCP container ports, in order.
func tcpPorts(p *corev1.Pod) []int32 {
	var out []int32
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP {
				out = append(out, cp.ContainerPort)
			}
		}
	}
	return out
}

// undeclaredPort is aimed at when a pod declares no port that is not exposed: a closed
// port cannot be told from a blocked one, but it is never a publication.
const undeclaredPort = 80

// addrTarget is one address the probe aims at, and what was left aside to choose it.
type addrTarget struct {
	addr string
	note string
}

// pickPod chooses the pod and TCP port of another tenant the probe aims at: a port the
// tenant did not expose, best a declared one (the pod likely listens there, so no
// connection means blocked) on a pod it exposes on no port. ok is false, with why, when
// every pod answers on port undeclaredPort by design and declares no other port.
func (x exposure) pickPod(tenant string, pods []*corev1.Pod) (t addrTarget, why string, ok bool) {
	best, bestRank := addrTarget{}, -1
	var exposedBy []string
	for _, p := range pods {
		exposed := false
		for _, port := range tcpPorts(p) {
			if s := x.openedBy(p, port); s != "" {
				exposed = true
				exposedBy = appendOnce(exposedBy, s)
			}
		}
		candidates := append(tcpPorts(p), undeclaredPort)
		for i, port := range candidates {
			if s := x.openedBy(p, port); s != "" {
				exposedBy = appendOnce(exposedBy, s)
				continue
			}
			rank := 0
			if i == len(candidates)-1 {
				rank += 2
			}
			if exposed {
				rank++
			}
			if bestRank < 0 || rank < bestRank {
				best, bestRank = addrTarget{addr: hostPort(p.Status.PodIP, port)}, rank
			}
			break
		}
	}
	if bestRank < 0 {
		return addrTarget{}, fmt.Sprintf("every workload pod of %s answers on its declared ports and port %d by design (exposed by %s through Service %s): not counted",
			tenant, undeclaredPort, tenant, strings.Join(exposedBy, ", ")), false
	}
	if len(exposedBy) > 0 {
		best.note = fmt.Sprintf("ports of %s's pods exposed on purpose by Service %s are not aimed at", tenant, strings.Join(exposedBy, ", "))
	}
	return best, "", true
}

// pickService chooses a ClusterIP Service port of another tenant that leads to no port the
// tenant exposed on purpose (on the running pods it selects); ok is false, with why, when
// there is none.
func (x exposure) pickService(tenant string, svcs []*corev1.Service, pods []*corev1.Pod) (t addrTarget, why string, ok bool) {
	var exposedBy []string
	for _, s := range svcs {
		sel := labels.SelectorFromSet(s.Spec.Selector)
		for _, sp := range s.Spec.Ports {
			if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
				continue
			}
			by := ""
			for _, p := range pods {
				if len(s.Spec.Selector) == 0 || !sel.Matches(labels.Set(p.Labels)) {
					continue
				}
				if by = x.openedBy(p, targetPort(p, sp)); by != "" {
					break
				}
			}
			if by != "" {
				exposedBy = appendOnce(exposedBy, by)
				continue
			}
			t := addrTarget{addr: hostPort(s.Spec.ClusterIP, sp.Port)}
			if len(exposedBy) > 0 {
				t.note = fmt.Sprintf("Service ports of %s that lead to pods exposed on purpose by Service %s are not aimed at", tenant, strings.Join(exposedBy, ", "))
			}
			return t, "", true
		}
	}
	if len(exposedBy) == 0 {
		return addrTarget{}, "tenant " + tenant + " has no workload Service with a ClusterIP and a TCP port", false
	}
	return addrTarget{}, fmt.Sprintf("every workload Service port of %s leads to pods it exposes on purpose (Service %s): not counted",
		tenant, strings.Join(exposedBy, ", ")), false
}

// targetPort is the pod port a Service port sends to on p.
func targetPort(p *corev1.Pod, sp corev1.ServicePort) int32 {
	switch {
	case sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "":
		return namedPort(p, sp.TargetPort.StrVal)
	case sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0:
		return sp.TargetPort.IntVal
	}
	return sp.Port
}

func hostPort(host string, port int32) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

func appendOnce(list []string, s string) []string {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list, s)
}

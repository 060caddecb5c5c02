// Package admission is kplex's tenant policy: an admission plugin compiled into a virtual
// cluster's kube-apiserver. The tenant is cluster-admin of its virtual cluster, so the
// policy must not be an object it could delete (a webhook configuration or an admission
// policy): only the host admin, through kplexd's flags, decides what it allows.
//
// The policy stops what would reach the host through the syncer: pods that break the Pod
// Security Standards level (upstream checks; namespace labels can only raise the level) or
// name a host node,
// NodePort and LoadBalancer Services (they open ports on every host node), Ingresses (the
// host's ingress controllers would publish them), Services with
// externalIPs (they capture traffic to any address on the host's nodes), and
// PersistentVolumes whose source the kubelet mounts from the node itself (hostPath, local,
// flexVolume and the in-tree network filesystems mounted from the host's network).
package admission

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// PluginName is the name of the admission plugin in --enable-admission-plugins.
const PluginName = "KplexTenantPolicy"

// Config is what the host admin allows a tenant.
type Config struct {
	// PodSecurityLevel is the lowest Pod Security Standards level of every pod: restricted
	// (the default when empty) or baseline.
	PodSecurityLevel   string
	AllowNodePorts     bool
	AllowLoadBalancers bool
	AllowIngresses     bool
}

// Validate reports an invalid level as one line that names the flag and the fix.
func (c Config) Validate() error {
	_, err := c.level()
	return err
}

func (c Config) level() (psaapi.Level, error) {
	switch c.PodSecurityLevel {
	case "", string(psaapi.LevelRestricted):
		return psaapi.LevelRestricted, nil
	case string(psaapi.LevelBaseline):
		return psaapi.LevelBaseline, nil
	}
	return "", fmt.Errorf("invalid --pod-security %q: use \"restricted\" or \"baseline\"", c.PodSecurityLevel)
}

// Policy evaluates objects against a Config. It is safe for concurrent use.
type Policy struct {
	cfg       Config
	level     psaapi.Level
	evaluator policy.Evaluator
}

// NewPolicy returns the policy of cfg.
func NewPolicy(cfg Config) (*Policy, error) {
	level, err := cfg.level()
	if err != nil {
		return nil, err
	}
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("pod security checks: %w", err)
	}
	return &Policy{cfg: cfg, level: level, evaluator: ev}, nil
}

// Level is the pod security level that applies in a namespace with these labels: the
// configured one, or the namespace's enforce label when that is stricter. The tenant owns
// its namespaces' labels, so a label never lowers the level.
func (p *Policy) Level(nsLabels map[string]string) psaapi.Level {
	l, err := psaapi.ParseLevel(nsLabels[psaapi.EnforceLevelLabel])
	if err != nil || psaapi.CompareLevels(l, p.level) <= 0 {
		return p.level
	}
	return l
}

// Pod returns why a pod (or pod template) is refused, or "": it names a host node, or
// breaks the pod security level of its namespace.
func (p *Policy) Pod(nsLabels map[string]string, meta *metav1.ObjectMeta, spec *corev1.PodSpec) string {
	var why []string
	if spec.NodeName != "" {
		// The host schedules the pod and kplex records the node; a tenant that names a
		// host node would bypass the host scheduler and its taints.
		why = append(why, fmt.Sprintf("spec.nodeName %q is not allowed: the host schedules pods; use a nodeSelector or affinity", spec.NodeName))
	}
	lv := psaapi.LevelVersion{Level: p.Level(nsLabels), Version: psaapi.LatestVersion()}
	if r := policy.AggregateCheckResults(p.evaluator.EvaluatePod(lv, meta, spec)); !r.Allowed {
		why = append(why, fmt.Sprintf("violates PodSecurity %q: %s (kplex enforces at least %q in this virtual cluster; namespace labels can only raise it)",
			lv.String(), r.ForbiddenDetail(), p.level))
	}
	return strings.Join(why, "; ")
}

// Service returns why a Service is refused, or "".
func (p *Policy) Service(s *corev1.Service) string {
	var why []string
	switch s.Spec.Type {
	case corev1.ServiceTypeNodePort:
		if !p.cfg.AllowNodePorts {
			why = append(why, `spec.type "NodePort" is not allowed: it would open a port on every host node; the host admin can allow it for this virtual cluster (kplexd --allow-node-ports)`)
		}
	case corev1.ServiceTypeLoadBalancer:
		if !p.cfg.AllowLoadBalancers {
			why = append(why, `spec.type "LoadBalancer" is not allowed: it would expose the service outside the host cluster; the host admin can allow it for this virtual cluster (kplexd --allow-load-balancers)`)
		}
	}
	if len(s.Spec.ExternalIPs) > 0 {
		why = append(why, fmt.Sprintf("spec.externalIPs %v is not allowed: the host's nodes would capture traffic to those addresses; use a ClusterIP service", s.Spec.ExternalIPs))
	}
	return strings.Join(why, "; ")
}

// Ingress returns why an Ingress is refused, or "".
func (p *Policy) Ingress() string {
	if p.cfg.AllowIngresses {
		return ""
	}
	return "Ingresses are not allowed: the host's ingress controllers would publish this virtual cluster's Services outside the host cluster under the host names it claims; the host admin can allow it for this virtual cluster (kplexd --allow-ingresses)"
}

// PersistentVolume returns why a PersistentVolume is refused, or "". The kubelet mounts a
// volume's source on the host node with the host's network and rights: a tenant's volume
// must not name a node path, a node-side driver, or a storage server the host can reach.
func (p *Policy) PersistentVolume(pv *corev1.PersistentVolume) string {
	s := pv.Spec.PersistentVolumeSource
	var src string
	switch {
	case s.HostPath != nil:
		src = "spec.hostPath (a directory on the host node)"
	case s.Local != nil:
		src = "spec.local (a disk or directory on the host node)"
	case s.FlexVolume != nil:
		src = "spec.flexVolume (a driver run as root on the host node)"
	case s.NFS != nil:
		src = "spec.nfs (mounted by the host node from the host's network)"
	case s.ISCSI != nil:
		src = "spec.iscsi (attached by the host node from the host's network)"
	case s.RBD != nil:
		src = "spec.rbd (attached by the host node from the host's network)"
	case s.CephFS != nil:
		src = "spec.cephfs (mounted by the host node from the host's network)"
	case s.Glusterfs != nil:
		src = "spec.glusterfs (mounted by the host node from the host's network)"
	case s.FC != nil:
		src = "spec.fc (a Fibre Channel disk attached to the host node)"
	default:
		return ""
	}
	return "PersistentVolume source " + src + " is not allowed in a virtual cluster: request storage with a PersistentVolumeClaim instead"
}

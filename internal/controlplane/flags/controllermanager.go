package flags

import (
	"strings"

	"github.com/kplex-dev/kplex/internal/controlplane/args"
	"github.com/kplex-dev/kplex/internal/controlplane/pki"
)

// ControllerManagerConfig is what the controller manager needs from the rest of the control plane.
type ControllerManagerConfig struct {
	Kubeconfig  string // client certificate of system:kube-controller-manager
	PKI         *pki.Bundle
	ServiceCIDR string
	ClusterCIDR string // host profile: allocate node pod CIDRs from it
	HostProfile bool
	ExtraArgs   []args.Arg
}

// ControllerManager returns the kube-controller-manager flags.
func ControllerManager(c ControllerManagerConfig) []string {
	a := []args.Arg{
		{Key: "kubeconfig", Value: c.Kubeconfig},
		{Key: "controllers", Value: Controllers(c.HostProfile)},
		{Key: "leader-elect", Value: "false"}, // one controller manager per control plane process
		{Key: "secure-port", Value: "0"},      // health is the API server's /readyz
		{Key: "use-service-account-credentials", Value: "true"},
		{Key: "service-account-private-key-file", Value: c.PKI.SAKey()},
		{Key: "root-ca-file", Value: c.PKI.CACert()},
		{Key: "service-cluster-ip-range", Value: c.ServiceCIDR},
	}
	if c.HostProfile {
		a = append(a,
			args.Arg{Key: "cluster-signing-cert-file", Value: c.PKI.CACert()},
			args.Arg{Key: "cluster-signing-key-file", Value: c.PKI.CAKey()})
		if c.ClusterCIDR != "" {
			a = append(a, args.Arg{Key: "allocate-node-cidrs", Value: "true"}, args.Arg{Key: "cluster-cidr", Value: c.ClusterCIDR})
		}
	}
	return args.Render(args.Merge(a, c.ExtraArgs))
}

// virtualControllers are what a tenant's workloads and objects need from a control plane
// whose pods run on somebody else's nodes. Left out, and why:
//   - node-lifecycle, node-ipam, taint-eviction, ttl, cloud and route controllers: the host
//     owns the nodes;
//   - pod-garbage-collector: it deletes pods bound to nodes the virtual cluster does not
//     know, and the syncer owns the pods' lifecycle;
//   - persistentvolume binder and attach/detach: the host binds and attaches volumes;
//   - certificatesigningrequest-*: the cluster CA also signs kplex's own component
//     identities, so the virtual cluster does not hand out certificates from it;
//   - horizontal-pod-autoscaler: no metrics API yet.
var virtualControllers = []string{
	"serviceaccount-token-controller",
	"serviceaccount-controller",
	"root-ca-certificate-publisher-controller",
	"namespace-controller",
	"garbage-collector-controller",
	"clusterrole-aggregation-controller",
	"deployment-controller",
	"replicaset-controller",
	"replicationcontroller-controller",
	"statefulset-controller",
	"daemonset-controller",
	"job-controller",
	"cronjob-controller",
	"ttl-after-finished-controller",
	"endpoints-controller",
	"endpointslice-controller",
	"endpointslice-mirroring-controller",
	"resourcequota-controller",
	"disruption-controller",
	"persistentvolumeclaim-protection-controller",
	"persistentvolume-protection-controller",
	"ephemeral-volume-controller",
	"service-cidr-controller",
	"validatingadmissionpolicy-status-controller",
	"legacy-serviceaccount-token-cleaner-controller",
}

// Controllers is the --controllers value for a profile.
func Controllers(host bool) string {
	if host {
		return "*"
	}
	return strings.Join(virtualControllers, ",")
}

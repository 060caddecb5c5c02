// Package nodes keeps a virtual Node for each host node that runs at least one of the
// tenant's pods, so that the virtual cluster's controllers (EndpointSlices) and the API
// server's pod subresources (logs, exec, attach, port-forward) find the node its pods are
// bound to. A virtual node shows what the tenant needs about its host node and nothing
// else; its kubelet is kplexd's kubelet proxy.
package nodes

import (
	"net"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/internal/translate"
)

// LabelManagedBy marks the virtual nodes the syncer made (value: the tenant's name). Only
// those are ever deleted; a node the tenant made is left alone unless one of its pods
// runs on the host node of that name, and then it is taken over.
const LabelManagedBy = translate.LabelManagedBy

// publicLabel reports whether a tenant sees a host node label: where the node is and what
// it runs, as workloads use them in affinities and topology spread. Every other host label
// (pools, hardware, ownership, other tenants' placement) stays on the host.
func publicLabel(k string) bool {
	switch k {
	case corev1.LabelHostname, corev1.LabelOSStable, corev1.LabelArchStable,
		corev1.LabelTopologyZone, corev1.LabelTopologyRegion, corev1.LabelInstanceTypeStable:
		return true
	}
	return false
}

// Kubelet is where the virtual nodes' kubelet API is served: kplexd's kubelet proxy.
type Kubelet struct {
	Address net.IP
	Port    int32
}

// Public is what the tenant may see of a host node: its name, the public labels,
// capacity, allocatable, conditions and the versions in nodeInfo. Left out: addresses,
// annotations, spec (taints, pod CIDRs, provider ID), images, volumes, machine and
// boot identifiers, kernel and OS image. It is also the host node cache's transform, so
// nothing else is even kept in memory.
func Public(h *corev1.Node) *corev1.Node {
	p := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: h.Name, UID: h.UID, ResourceVersion: h.ResourceVersion},
		Status: corev1.NodeStatus{
			Capacity:    h.Status.Capacity,
			Allocatable: h.Status.Allocatable,
			Conditions:  h.Status.Conditions,
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          h.Status.NodeInfo.KubeletVersion,
				OperatingSystem:         h.Status.NodeInfo.OperatingSystem,
				Architecture:            h.Status.NodeInfo.Architecture,
				ContainerRuntimeVersion: h.Status.NodeInfo.ContainerRuntimeVersion,
			},
		},
	}
	for k, v := range h.Labels {
		if publicLabel(k) {
			if p.Labels == nil {
				p.Labels = map[string]string{}
			}
			p.Labels[k] = v
		}
	}
	return p
}

// HostCache is the host cache configuration for nodes: cluster-scoped and unlabelled, so
// none of the host cache's namespace and label restrictions, and only Public kept.
func HostCache() cache.ByObject {
	return cache.ByObject{
		Label: labels.Everything(),
		Transform: func(o any) (any, error) {
			if n, ok := o.(*corev1.Node); ok {
				return Public(n), nil
			}
			return o, nil // a tombstone holds the public copy already
		},
	}
}

// Virtual is the virtual node of a host node (already Public or not) for tenant: the
// public part, the managed-by label, and the kubelet proxy as its only address and
// kubelet endpoint. No taints: the host's scheduler places the pods, and NoExecute
// taints would let a virtual taint-eviction controller delete pods the host still runs.
func Virtual(tenant string, host *corev1.Node, k Kubelet) *corev1.Node {
	p := Public(host.DeepCopy()) // p shares nothing with host
	v := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Labels: p.Labels},
		Status:     p.Status,
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	v.Labels[LabelManagedBy] = tenant
	v.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: k.Address.String()}}
	v.Status.DaemonEndpoints.KubeletEndpoint.Port = k.Port
	return v
}

// managed reports whether the syncer of tenant made n.
func managed(tenant string, n client.Object) bool {
	return n.GetLabels()[LabelManagedBy] == tenant
}

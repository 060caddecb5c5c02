package events

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// newObject returns an empty object of a kind the syncer copies to the host, or nil.
// Events about anything else (the control plane's StatefulSet, the host's own objects)
// are never shown to the tenant. Every kind here is already in the host and virtual
// caches, so looking one up starts no new watch.
func newObject(gk schema.GroupKind) client.Object {
	switch gk {
	case schema.GroupKind{Kind: "Pod"}:
		return &corev1.Pod{}
	case schema.GroupKind{Kind: "PersistentVolumeClaim"}:
		return &corev1.PersistentVolumeClaim{}
	case schema.GroupKind{Kind: "Service"}:
		return &corev1.Service{}
	case schema.GroupKind{Kind: "ConfigMap"}:
		return &corev1.ConfigMap{}
	case schema.GroupKind{Kind: "Secret"}:
		return &corev1.Secret{}
	case schema.GroupKind{Group: networkingv1.GroupName, Kind: "Ingress"}:
		return &networkingv1.Ingress{}
	case schema.GroupKind{Group: networkingv1.GroupName, Kind: "NetworkPolicy"}:
		return &networkingv1.NetworkPolicy{}
	}
	return nil
}

// involvedKind is the group and kind an event is about.
func involvedKind(ref corev1.ObjectReference) schema.GroupKind {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return schema.GroupKind{}
	}
	return schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
}

// namedKinds are the kinds whose host names appear in host messages about pods and
// claims (volumes, claims, services): these are rewritten to virtual names.
func namedKinds() []schema.GroupKind {
	return []schema.GroupKind{{Kind: "Pod"}, {Kind: "PersistentVolumeClaim"}, {Kind: "ConfigMap"}, {Kind: "Secret"}, {Kind: "Service"}}
}

// addresses are the IP addresses the tenant already sees on obj's virtual copy, which a
// message may keep.
func addresses(obj client.Object) []string {
	var out []string
	switch o := obj.(type) {
	case *corev1.Pod:
		for _, ip := range o.Status.PodIPs {
			out = append(out, ip.IP)
		}
		for _, ip := range o.Status.HostIPs {
			out = append(out, ip.IP)
		}
		out = append(out, o.Status.PodIP, o.Status.HostIP)
	case *corev1.Service:
		out = append(out, o.Spec.ClusterIPs...) // the same on both sides; load balancers are not synced back
	case *networkingv1.Ingress: // its load-balancer status is synced back
		for _, i := range o.Status.LoadBalancer.Ingress {
			out = append(out, i.IP)
		}
	}
	return out
}

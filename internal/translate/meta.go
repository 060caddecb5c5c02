package translate

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Annotations recording, on a host copy, which virtual object it copies. They
// are authoritative: names are never parsed back.
const (
	AnnotationVirtualNamespace = "kplex.dev/virtual-namespace"
	AnnotationVirtualName      = "kplex.dev/virtual-name"
	AnnotationVirtualUID       = "kplex.dev/virtual-uid"
)

// HostMeta returns the metadata of the host copy of virtual: its host name and
// namespace, translated labels and the annotations recording the original
// namespace, name and UID. Nothing else is carried over (no annotations of the
// tenant, owner references, finalizers or generateName); the caller adds what
// its kind needs.
func (t *Translator) HostMeta(virtual metav1.Object) metav1.ObjectMeta {
	ns, name := virtual.GetNamespace(), virtual.GetName()
	return metav1.ObjectMeta{
		Name:      t.HostName(ns, name),
		Namespace: t.tenant.HostNamespace,
		Labels:    t.HostLabels(ns, virtual.GetLabels()),
		Annotations: map[string]string{
			AnnotationVirtualNamespace: ns,
			AnnotationVirtualName:      name,
			AnnotationVirtualUID:       string(virtual.GetUID()),
		},
	}
}

// VirtualRef returns the virtual object a host object copies. ok is false
// unless host IsOwned, carries all three annotations, and its name and
// namespace label are what HostMeta gives for the recorded namespace and name;
// an owned object that fails this is corrupt or from another naming scheme.
// Callers compare uid with the live virtual object: a virtual object deleted
// and re-created under the same name has a new UID, and its old copy must go.
func (t *Translator) VirtualRef(host metav1.Object) (namespace, name string, uid types.UID, ok bool) {
	if !t.IsOwned(host) {
		return "", "", "", false
	}
	a := host.GetAnnotations()
	namespace, okNS := a[AnnotationVirtualNamespace]
	name, okName := a[AnnotationVirtualName]
	u, okUID := a[AnnotationVirtualUID]
	if !okNS || !okName || !okUID || name == "" ||
		host.GetName() != t.HostName(namespace, name) ||
		host.GetLabels()[LabelVirtualNamespace] != namespaceLabelValue(namespace) {
		return "", "", "", false
	}
	return namespace, name, types.UID(u), true
}

// IsOwned reports whether host is managed by this tenant's syncer: in its host
// namespace, with LabelManagedBy set to its name.
func (t *Translator) IsOwned(host metav1.Object) bool {
	return host.GetNamespace() == t.tenant.HostNamespace && host.GetLabels()[LabelManagedBy] == t.tenant.Name
}

// OwnedSelector selects the host objects IsOwned accepts, within the host
// namespace (for list, watch and cache filters).
func (t *Translator) OwnedSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{LabelManagedBy: t.tenant.Name})
}

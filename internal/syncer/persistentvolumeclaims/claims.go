// Package persistentvolumeclaims copies a tenant's PersistentVolumeClaims into the host
// namespace, where the host's storage provisions and binds them, and copies their status
// back. PersistentVolumes are not synced either way: the tenant sees a claim Bound, with
// its capacity, but no volume; the host's volumes, and their names, stay the host's.
//
// A claim can only get storage the host provisions for it from a StorageClass (or clone
// another claim of the same tenant): a claim naming a volume (spec.volumeName), selecting
// volumes by label (spec.selector) or populated from anything but one of the tenant's own
// claims (spec.dataSource, spec.dataSourceRef) could only mean a host object the tenant
// does not own, and is refused.
package persistentvolumeclaims

import (
	"context"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/internal/syncer/copier"
	"github.com/kplex-dev/kplex/internal/translate"
)

// Kind is the copier description of claims for one tenant.
func Kind(t *translate.Translator) copier.Kind[*corev1.PersistentVolumeClaim] {
	return copier.Kind[*corev1.PersistentVolumeClaim]{
		Name: "persistentvolumeclaims",
		New:  func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} },
		Copy: func(_ context.Context, v *corev1.PersistentVolumeClaim, meta metav1.ObjectMeta) (*corev1.PersistentVolumeClaim, error) {
			return HostClaim(t, v, meta)
		},
		Same: func(want, have *corev1.PersistentVolumeClaim) bool {
			return equality.Semantic.DeepEqual(Merge(want, have), have)
		},
		Merge:  Merge,
		Status: VirtualStatus,
	}
}

// HostClaim is the host copy of a virtual claim: its access modes, size, volume mode and
// classes, with a data source renamed to the host copy of the tenant's claim. Claims that
// would reach a host object are refused with a *copier.RefusedError.
func HostClaim(t *translate.Translator, v *corev1.PersistentVolumeClaim, meta metav1.ObjectMeta) (*corev1.PersistentVolumeClaim, error) {
	s := v.Spec
	if s.VolumeName != "" {
		return nil, copier.Refuse("VolumeNameNotSupported",
			"spec.volumeName %q cannot be honoured: PersistentVolumes are the host's and are not synced; remove spec.volumeName and let a StorageClass provision the volume", s.VolumeName)
	}
	if s.Selector != nil {
		return nil, copier.Refuse("SelectorNotSupported",
			"spec.selector cannot be honoured: it would select the host's PersistentVolumes, which are not synced; remove it and let a StorageClass provision the volume")
	}
	h := &corev1.PersistentVolumeClaim{ObjectMeta: meta, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes:               s.AccessModes,
		Resources:                 *s.Resources.DeepCopy(),
		StorageClassName:          s.StorageClassName,
		VolumeMode:                s.VolumeMode,
		VolumeAttributesClassName: s.VolumeAttributesClassName,
	}}
	if s.DataSource != nil {
		if !isClaimRef(s.DataSource.APIGroup, s.DataSource.Kind, nil) {
			return nil, refuseSource("spec.dataSource", s.DataSource.Kind)
		}
		h.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: t.HostName(v.Namespace, s.DataSource.Name)}
	}
	if r := s.DataSourceRef; r != nil {
		if !isClaimRef(r.APIGroup, r.Kind, r.Namespace) {
			return nil, refuseSource("spec.dataSourceRef", r.Kind)
		}
		h.Spec.DataSourceRef = &corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: t.HostName(v.Namespace, r.Name)}
	}
	return h, nil
}

// isClaimRef reports whether a data source names a claim in the claim's own namespace:
// the only source whose host name kplex controls (HostName of the tenant's claim).
func isClaimRef(group *string, kind string, namespace *string) bool {
	return (group == nil || *group == "") && kind == "PersistentVolumeClaim" && (namespace == nil || *namespace == "")
}

func refuseSource(field, kind string) error {
	return copier.Refuse("DataSourceNotSupported",
		"%s of kind %q cannot be honoured: only another PersistentVolumeClaim of the same namespace can be cloned (snapshots and populators are not synced); remove it or clone a claim", field, kind)
}

// Merge is have updated to want where a claim may change: labels, kplex's annotations,
// requested size (expansion) and volume attributes class. The rest of a claim's spec is
// immutable; volumeName and the annotations the host's binder and provisioner set are
// theirs.
func Merge(want, have *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
	upd := have.DeepCopy()
	upd.Labels = want.Labels
	if upd.Annotations == nil {
		upd.Annotations = map[string]string{}
	}
	maps.Copy(upd.Annotations, want.Annotations)
	upd.Spec.Resources.Requests = want.Spec.Resources.Requests
	upd.Spec.VolumeAttributesClassName = want.Spec.VolumeAttributesClassName
	return upd
}

// VirtualStatus copies what the host reports on a claim into the virtual one: phase,
// capacity, access modes, conditions and resize state. It reports whether anything changed.
func VirtualStatus(virtual, host *corev1.PersistentVolumeClaim) bool {
	h := host.Status.DeepCopy()
	s := virtual.Status.DeepCopy()
	s.Phase = h.Phase
	s.AccessModes = h.AccessModes
	s.Capacity = h.Capacity
	s.Conditions = h.Conditions
	s.AllocatedResources = h.AllocatedResources
	s.AllocatedResourceStatuses = h.AllocatedResourceStatuses
	s.CurrentVolumeAttributesClassName = h.CurrentVolumeAttributesClassName
	s.ModifyVolumeStatus = h.ModifyVolumeStatus
	if equality.Semantic.DeepEqual(*s, virtual.Status) {
		return false
	}
	virtual.Status = *s
	return true
}

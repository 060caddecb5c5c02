package hostclasses

import (
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Default-class annotations: the only annotations copied.
const (
	AnnotationDefaultStorageClass     = "storageclass.kubernetes.io/is-default-class"
	AnnotationBetaDefaultStorageClass = "storageclass.beta.kubernetes.io/is-default-class"
	AnnotationDefaultIngressClass     = networkingv1.AnnotationIsDefaultIngressClass
)

// meta is the metadata of a virtual copy: the name and the listed annotations only.
func meta(host metav1.Object, annotations ...string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: host.GetName()}
	for _, k := range annotations {
		if v, ok := host.GetAnnotations()[k]; ok {
			if m.Annotations == nil {
				m.Annotations = map[string]string{}
			}
			m.Annotations[k] = v
		}
	}
	return m
}

func sameMeta(want, have metav1.Object) bool {
	return equality.Semantic.DeepEqual(want.GetLabels(), have.GetLabels()) && equality.Semantic.DeepEqual(want.GetAnnotations(), have.GetAnnotations())
}

// StorageClasses without parameters, mount options or allowed topologies.
func StorageClasses() Kind[*storagev1.StorageClass] {
	return Kind[*storagev1.StorageClass]{
		Name: "storageclasses",
		New:  func() *storagev1.StorageClass { return &storagev1.StorageClass{} },
		Project: func(h *storagev1.StorageClass) *storagev1.StorageClass {
			return &storagev1.StorageClass{
				ObjectMeta:           meta(h, AnnotationDefaultStorageClass, AnnotationBetaDefaultStorageClass),
				Provisioner:          h.Provisioner,
				ReclaimPolicy:        h.ReclaimPolicy,
				VolumeBindingMode:    h.VolumeBindingMode,
				AllowVolumeExpansion: h.AllowVolumeExpansion,
			}
		},
		Same: func(want, have *storagev1.StorageClass) bool {
			return sameMeta(want, have) && equality.Semantic.DeepEqual(want.AllowVolumeExpansion, have.AllowVolumeExpansion) &&
				len(have.MountOptions) == 0 && len(have.AllowedTopologies) == 0
		},
		// What the API server does not let an update change.
		Replace: func(want, have *storagev1.StorageClass) bool {
			return want.Provisioner != have.Provisioner || len(have.Parameters) > 0 ||
				!equality.Semantic.DeepEqual(want.ReclaimPolicy, have.ReclaimPolicy) ||
				!equality.Semantic.DeepEqual(want.VolumeBindingMode, have.VolumeBindingMode)
		},
		Merge: func(want, have *storagev1.StorageClass) *storagev1.StorageClass {
			upd := have.DeepCopy()
			upd.Labels, upd.Annotations = want.Labels, want.Annotations
			upd.AllowVolumeExpansion = want.AllowVolumeExpansion
			upd.MountOptions, upd.AllowedTopologies = nil, nil
			return upd
		},
	}
}

// IngressClasses without parameters (a reference to a host object).
func IngressClasses() Kind[*networkingv1.IngressClass] {
	return Kind[*networkingv1.IngressClass]{
		Name: "ingressclasses",
		New:  func() *networkingv1.IngressClass { return &networkingv1.IngressClass{} },
		Project: func(h *networkingv1.IngressClass) *networkingv1.IngressClass {
			return &networkingv1.IngressClass{
				ObjectMeta: meta(h, AnnotationDefaultIngressClass),
				Spec:       networkingv1.IngressClassSpec{Controller: h.Spec.Controller},
			}
		},
		Same: func(want, have *networkingv1.IngressClass) bool {
			return sameMeta(want, have) && have.Spec.Parameters == nil
		},
		Replace: func(want, have *networkingv1.IngressClass) bool { return want.Spec.Controller != have.Spec.Controller },
		Merge: func(want, have *networkingv1.IngressClass) *networkingv1.IngressClass {
			upd := have.DeepCopy()
			upd.Labels, upd.Annotations = want.Labels, want.Annotations
			upd.Spec.Parameters = nil
			return upd
		},
	}
}

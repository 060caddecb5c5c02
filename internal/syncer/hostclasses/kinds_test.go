package hostclasses

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestProjectLeavesHostDetailsOut(t *testing.T) {
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "fast", UID: "u", Labels: map[string]string{"team": "infra"}, Annotations: map[string]string{
			AnnotationDefaultStorageClass: "true", "kubectl.kubernetes.io/last-applied-configuration": "{secret}"}},
		Provisioner:          "ebs.csi.aws.com",
		Parameters:           map[string]string{"csi.storage.k8s.io/provisioner-secret-name": "cloud-creds", "kmsKeyId": "arn:..."},
		ReclaimPolicy:        ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode:    ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
		AllowVolumeExpansion: ptr.To(true),
		MountOptions:         []string{"nfsvers=4.1"},
		AllowedTopologies:    []corev1.TopologySelectorTerm{{}},
	}
	k := StorageClasses()
	v := k.Project(sc)
	if v.Name != "fast" || v.UID != "" || len(v.Labels) != 0 || len(v.Annotations) != 1 || v.Annotations[AnnotationDefaultStorageClass] != "true" {
		t.Errorf("metadata = %+v", v.ObjectMeta)
	}
	if v.Parameters != nil || v.MountOptions != nil || v.AllowedTopologies != nil {
		t.Errorf("host details copied: %+v", v)
	}
	if v.Provisioner != sc.Provisioner || *v.ReclaimPolicy != *sc.ReclaimPolicy || *v.VolumeBindingMode != *sc.VolumeBindingMode || !*v.AllowVolumeExpansion {
		t.Errorf("class = %+v", v)
	}
	edited := v.DeepCopy()
	edited.AllowVolumeExpansion = ptr.To(false)
	edited.MountOptions = []string{"x"}
	if k.Same(v, edited) || k.Replace(v, edited) || !k.Same(v, k.Merge(v, edited)) {
		t.Error("a mutable edit must be merged back, not replaced")
	}
	other := v.DeepCopy()
	other.Provisioner = "tenant.example/own"
	if !k.Replace(v, other) {
		t.Error("a class with another provisioner must be replaced")
	}

	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx", Annotations: map[string]string{AnnotationDefaultIngressClass: "true", "x": "y"}},
		Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx", Parameters: &networkingv1.IngressClassParametersReference{
			Kind: "ConfigMap", Name: "nginx-internal", Namespace: ptr.To("ingress-system"), Scope: ptr.To("Namespace")}},
	}
	vi := IngressClasses().Project(ic)
	if vi.Spec.Parameters != nil || vi.Spec.Controller != "k8s.io/ingress-nginx" || len(vi.Annotations) != 1 {
		t.Errorf("ingress class = %+v", vi)
	}
}

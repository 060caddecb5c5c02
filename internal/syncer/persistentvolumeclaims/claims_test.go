package persistentvolumeclaims

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/syncer/copier"
	"github.com/kplex-dev/kplex/internal/translate"
)

func claim(mod func(*corev1.PersistentVolumeClaimSpec)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "data", UID: "u1", Annotations: map[string]string{"volume.kubernetes.io/selected-node": "n1"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("fast"),
			VolumeMode:       ptr.To(corev1.PersistentVolumeFilesystem),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if mod != nil {
		mod(&c.Spec)
	}
	return c
}

func TestHostClaim(t *testing.T) {
	tr, err := translate.New(translate.Tenant{Name: "acme", HostNamespace: "kplex-acme"})
	if err != nil {
		t.Fatal(err)
	}
	snap := ptr.To("snapshot.storage.k8s.io")
	for _, tc := range []struct {
		name   string
		spec   func(*corev1.PersistentVolumeClaimSpec)
		refuse string // reason; "" when copied
		check  func(*testing.T, *corev1.PersistentVolumeClaim)
	}{
		{name: "plain claim keeps class, size, modes", check: func(t *testing.T, h *corev1.PersistentVolumeClaim) {
			if *h.Spec.StorageClassName != "fast" || h.Spec.Resources.Requests.Storage().String() != "1Gi" ||
				h.Spec.AccessModes[0] != corev1.ReadWriteOnce || *h.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
				t.Errorf("spec = %+v", h.Spec)
			}
			if h.Name != tr.HostName("shop", "data") || len(h.Annotations) != 3 {
				t.Errorf("metadata = %+v (tenant annotations must not be copied)", h.ObjectMeta)
			}
		}},
		{name: "volumeName of a host volume", spec: func(s *corev1.PersistentVolumeClaimSpec) { s.VolumeName = "pv-of-someone-else" }, refuse: "VolumeNameNotSupported"},
		{name: "selector over host volumes", spec: func(s *corev1.PersistentVolumeClaimSpec) {
			s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"owner": "bank"}}
		}, refuse: "SelectorNotSupported"},
		{name: "clone of the tenant's claim is renamed", spec: func(s *corev1.PersistentVolumeClaimSpec) {
			s.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "golden"}
			s.DataSourceRef = &corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "golden"}
		}, check: func(t *testing.T, h *corev1.PersistentVolumeClaim) {
			if h.Spec.DataSource.Name != tr.HostName("shop", "golden") || h.Spec.DataSourceRef.Name != tr.HostName("shop", "golden") {
				t.Errorf("data source = %+v / %+v", h.Spec.DataSource, h.Spec.DataSourceRef)
			}
		}},
		{name: "snapshot data source", spec: func(s *corev1.PersistentVolumeClaimSpec) {
			s.DataSource = &corev1.TypedLocalObjectReference{APIGroup: snap, Kind: "VolumeSnapshot", Name: "nightly"}
		}, refuse: "DataSourceNotSupported"},
		{name: "populator data source ref", spec: func(s *corev1.PersistentVolumeClaimSpec) {
			s.DataSourceRef = &corev1.TypedObjectReference{APIGroup: ptr.To("populator.example.com"), Kind: "Image", Name: "x"}
		}, refuse: "DataSourceNotSupported"},
		{name: "claim in another namespace", spec: func(s *corev1.PersistentVolumeClaimSpec) {
			s.DataSourceRef = &corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "db", Namespace: ptr.To("kube-system")}
		}, refuse: "DataSourceNotSupported"},
		{name: "core group spelled out", spec: func(s *corev1.PersistentVolumeClaimSpec) {
			s.DataSource = &corev1.TypedLocalObjectReference{APIGroup: ptr.To(""), Kind: "PersistentVolumeClaim", Name: "golden"}
		}, check: func(t *testing.T, h *corev1.PersistentVolumeClaim) {
			if h.Spec.DataSource.Name != tr.HostName("shop", "golden") {
				t.Errorf("data source = %+v", h.Spec.DataSource)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := claim(tc.spec)
			h, err := HostClaim(tr, v, tr.HostMeta(v))
			var refused *copier.RefusedError
			switch {
			case tc.refuse != "" && (!errors.As(err, &refused) || refused.Reason != tc.refuse):
				t.Fatalf("HostClaim = %v, %v; want refused with %s", h, err, tc.refuse)
			case tc.refuse == "" && err != nil:
				t.Fatalf("HostClaim: %v", err)
			case tc.refuse == "":
				if h.Spec.VolumeName != "" || h.Spec.Selector != nil {
					t.Errorf("host claim may bind a chosen volume: %+v", h.Spec)
				}
				tc.check(t, h)
			}
		})
	}
}

func TestMergeAndStatus(t *testing.T) {
	want := claim(func(s *corev1.PersistentVolumeClaimSpec) {
		s.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	})
	have := claim(nil)
	have.Spec.VolumeName = "pvc-123"
	have.Finalizers = []string{"kubernetes.io/pvc-protection"}
	have.Annotations = map[string]string{"pv.kubernetes.io/bind-completed": "yes"}
	upd := Merge(want, have)
	if upd.Spec.VolumeName != "pvc-123" || len(upd.Finalizers) != 1 || upd.Spec.Resources.Requests.Storage().String() != "2Gi" ||
		upd.Annotations["pv.kubernetes.io/bind-completed"] != "yes" || upd.Annotations["volume.kubernetes.io/selected-node"] != "n1" {
		t.Errorf("Merge = %+v: must keep the host's binding and finalizers, take the new size", upd)
	}

	have.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: have.Spec.AccessModes,
		Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
	v := claim(nil)
	if !VirtualStatus(v, have) || v.Status.Phase != corev1.ClaimBound || v.Status.Capacity.Storage().String() != "1Gi" {
		t.Errorf("VirtualStatus = %+v", v.Status)
	}
	if VirtualStatus(v, have) {
		t.Error("VirtualStatus reports a change when there is none")
	}
	if v.Spec.VolumeName != "" {
		t.Error("the host volume's name reached the virtual claim")
	}
}

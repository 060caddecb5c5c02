package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

func TestProvisionAndDelete(t *testing.T) {
	base := t.TempDir()
	p := NewLocalPath(base, "node-a")
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	pv, state, err := p.Provision(context.Background(), controller.ProvisionOptions{
		StorageClass: StorageClass(), PVName: "pvc-1", PVC: pvc, SelectedNodeName: "node-a",
	})
	if err != nil || state != controller.ProvisioningFinished {
		t.Fatalf("Provision: %v %v", state, err)
	}
	dir := pv.Spec.HostPath.Path
	if filepath.Dir(dir) != base {
		t.Errorf("volume dir %s not below %s", dir, base)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o777 {
		t.Errorf("volume dir: %v %v", st, err)
	}
	if got := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0]; got != "node-a" {
		t.Errorf("node affinity = %s", got)
	}
	if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.String() != "1Gi" {
		t.Errorf("capacity = %s", q.String())
	}
	if err := p.Delete(context.Background(), pv); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("volume dir still there: %v", err)
	}

	_, _, err = p.Provision(context.Background(), controller.ProvisionOptions{StorageClass: StorageClass(), PVName: "pvc-2", PVC: pvc, SelectedNodeName: "other"})
	if err == nil {
		t.Error("Provision accepted another node")
	}
}

func TestDeleteIgnoresForeignPaths(t *testing.T) {
	base := t.TempDir()
	outside := t.TempDir()
	p := NewLocalPath(base, "n")
	for _, path := range []string{outside, base, filepath.Join(base, "a", "b"), base + "/../x"} {
		pv := &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: path},
		}}}
		var ignored *controller.IgnoredError
		if err := p.Delete(context.Background(), pv); !errors.As(err, &ignored) {
			t.Errorf("Delete(%s) = %v, want IgnoredError", path, err)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatal(err)
	}
}

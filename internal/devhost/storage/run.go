package storage

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// StorageClassName is the devhost's default StorageClass.
const StorageClassName = "local-path"

// defaultClassAnnotation marks the StorageClass used by claims that name none.
const defaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"

// StorageClass is the default StorageClass. Binding waits for the first pod,
// as for any node-local storage.
func StorageClass() *storagev1.StorageClass {
	reclaim := corev1.PersistentVolumeReclaimDelete
	binding := storagev1.VolumeBindingWaitForFirstConsumer
	return &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: StorageClassName, Annotations: map[string]string{defaultClassAnnotation: "true"}},
		Provisioner:       ProvisionerName,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &binding,
	}
}

// Run creates the StorageClass if missing and provisions volumes until ctx ends.
func Run(ctx context.Context, client kubernetes.Interface, p *LocalPath) error {
	_, err := client.StorageV1().StorageClasses().Create(ctx, StorageClass(), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", StorageClassName, err)
	}
	pc := controller.NewProvisionController(ctx, client, ProvisionerName, p,
		controller.LeaderElection(false),
		controller.Threadiness(2),
	)
	pc.Run(ctx)
	return nil
}

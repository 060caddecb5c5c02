// Package storage is the devhost's dynamic volume provisioner: every claim of
// the default StorageClass gets a fresh directory under the data dir, mounted
// into pods as a hostPath volume pinned to the only node.
package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// ProvisionerName is the provisioner field of the devhost's StorageClass.
const ProvisionerName = "kplex.dev/local-path"

// LocalPath provisions volumes as directories below a base directory on one node.
type LocalPath struct {
	baseDir  string
	nodeName string
}

// NewLocalPath provisions below baseDir for the node nodeName.
func NewLocalPath(baseDir, nodeName string) *LocalPath {
	return &LocalPath{baseDir: filepath.Clean(baseDir), nodeName: nodeName}
}

var _ controller.Provisioner = (*LocalPath)(nil)

// Provision creates the claim's directory and returns its PersistentVolume.
func (p *LocalPath) Provision(_ context.Context, opts controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	if opts.SelectedNodeName != "" && opts.SelectedNodeName != p.nodeName {
		return nil, controller.ProvisioningFinished, fmt.Errorf("node %q is not this devhost's node %q", opts.SelectedNodeName, p.nodeName)
	}
	if opts.PVC.Spec.VolumeMode != nil && *opts.PVC.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return nil, controller.ProvisioningFinished, fmt.Errorf("block volumes are not supported by %s: use volumeMode Filesystem", ProvisionerName)
	}
	dir := filepath.Join(p.baseDir, fmt.Sprintf("%s_%s_%s", opts.PVName, opts.PVC.Namespace, opts.PVC.Name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("create volume directory: %w", err)
	}
	// Pods of any user must be able to write, as with an empty volume on a real disk.
	if err := os.Chmod(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("create volume directory: %w", err)
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if opts.StorageClass.ReclaimPolicy != nil {
		reclaim = *opts.StorageClass.ReclaimPolicy
	}
	hostPathType := corev1.HostPathDirectory
	fs := corev1.PersistentVolumeFilesystem
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   opts.PVC.Spec.AccessModes,
			MountOptions:                  opts.StorageClass.MountOptions,
			VolumeMode:                    &fs,
			Capacity: corev1.ResourceList{
				corev1.ResourceStorage: opts.PVC.Spec.Resources.Requests[corev1.ResourceStorage],
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &hostPathType},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{p.nodeName},
				}}}},
			}},
		},
	}, controller.ProvisioningFinished, nil
}

// Delete removes a volume's directory; volumes it did not make are left alone.
func (p *LocalPath) Delete(_ context.Context, pv *corev1.PersistentVolume) error {
	if pv.Spec.HostPath == nil {
		return &controller.IgnoredError{Reason: "not a local-path volume"}
	}
	dir, err := p.owned(pv.Spec.HostPath.Path)
	if err != nil {
		return &controller.IgnoredError{Reason: err.Error()}
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete volume directory %s: %w", dir, err)
	}
	return nil
}

// owned returns path when it is a direct child of the base directory.
func (p *LocalPath) owned(path string) (string, error) {
	clean := filepath.Clean(path)
	rel, err := filepath.Rel(p.baseDir, clean)
	if err != nil || rel == "." || strings.Contains(rel, string(filepath.Separator)) || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%s is not below %s", path, p.baseDir)
	}
	return clean, nil
}

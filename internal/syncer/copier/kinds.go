package copier

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/internal/syncer/pods"
)

func sameMeta(a, b metav1.Object) bool {
	return equality.Semantic.DeepEqual(a.GetLabels(), b.GetLabels()) && equality.Semantic.DeepEqual(a.GetAnnotations(), b.GetAnnotations())
}

func immutable(b *bool) bool { return b != nil && *b }

// ConfigMaps are copied, with their data, while a virtual pod uses them; an immutable
// copy is replaced, not updated.
func ConfigMaps() Kind[*corev1.ConfigMap] {
	return Kind[*corev1.ConfigMap]{
		Name:   "configmaps",
		New:    func() *corev1.ConfigMap { return &corev1.ConfigMap{} },
		UsedBy: []Users{PodUsers(pods.ConfigMapRefs)},
		Copy: func(_ context.Context, v *corev1.ConfigMap, meta metav1.ObjectMeta) (*corev1.ConfigMap, error) {
			return &corev1.ConfigMap{ObjectMeta: meta, Data: v.Data, BinaryData: v.BinaryData, Immutable: v.Immutable}, nil
		},
		Same: func(want, have *corev1.ConfigMap) bool {
			return sameMeta(want, have) && equality.Semantic.DeepEqual(want.Data, have.Data) &&
				equality.Semantic.DeepEqual(want.BinaryData, have.BinaryData) && equality.Semantic.DeepEqual(want.Immutable, have.Immutable)
		},
		Replace: func(_, have *corev1.ConfigMap) bool { return immutable(have.Immutable) },
	}
}

// Secrets are copied, with their data, while one of users (virtual pods; ingresses for
// their TLS certificates) uses them. A virtual service-account token becomes Opaque on the
// host, so the host's token controller never takes it for one of its own; the type of a
// Secret cannot change, so a type change replaces the copy.
func Secrets(users ...Users) Kind[*corev1.Secret] {
	return Kind[*corev1.Secret]{
		Name:   "secrets",
		New:    func() *corev1.Secret { return &corev1.Secret{} },
		UsedBy: users,
		Copy: func(_ context.Context, v *corev1.Secret, meta metav1.ObjectMeta) (*corev1.Secret, error) {
			return &corev1.Secret{ObjectMeta: meta, Data: v.Data, Type: hostSecretType(v.Type), Immutable: v.Immutable}, nil
		},
		Same: func(want, have *corev1.Secret) bool {
			return sameMeta(want, have) && want.Type == have.Type && equality.Semantic.DeepEqual(want.Data, have.Data) &&
				equality.Semantic.DeepEqual(want.Immutable, have.Immutable)
		},
		Replace: func(want, have *corev1.Secret) bool { return immutable(have.Immutable) || want.Type != have.Type },
		// The pod syncer's token Secrets share the namespace: never mistake one for a copy.
		Foreign: func(have *corev1.Secret) error {
			if have.Labels[pods.LabelTokenFor] != "" {
				return fmt.Errorf("host secret %s is a pod token, not a copy of a virtual secret", have.Name)
			}
			return nil
		},
	}
}

func hostSecretType(t corev1.SecretType) corev1.SecretType {
	if t == corev1.SecretTypeServiceAccountToken {
		return corev1.SecretTypeOpaque
	}
	return t
}

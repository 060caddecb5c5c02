package pods

import (
	"context"
	"fmt"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/internal/translate"
)

// AnnotationTokenRefresh is when kplex renews the token in a token Secret (RFC 3339):
// 80% into its lifetime, as a kubelet does.
const AnnotationTokenRefresh = "kplex.dev/token-refresh-at"

// ensureToken makes sure the token Secret of vpod holds a valid token issued by the
// virtual API server, bound to vpod. It returns when to look again.
//
// The Secret lives as long as the virtual pod, not the host pod: it is made before the
// host pod (so a kubelet never waits for it), survives a replaced host pod, and is
// deleted by deleteStaleToken once the virtual pod is gone. No owner reference: setting
// one would cost a host request per pod, and the syncer collects the Secret itself.
func (r *Reconciler) ensureToken(ctx context.Context, vpod *corev1.Pod) (time.Duration, error) {
	hc := r.Host.GetClient()
	key := types.NamespacedName{Namespace: r.Translator.Tenant().HostNamespace, Name: TokenSecretName(r.Translator, vpod.Namespace, vpod.Name)}
	cur := &corev1.Secret{}
	if err := hc.Get(ctx, key, cur); err != nil {
		if !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("get token secret %s: %w", key.Name, err)
		}
		cur = nil
	}
	now := time.Now()
	vkey := client.ObjectKeyFromObject(vpod)
	if cur != nil && cur.Annotations[translate.AnnotationVirtualUID] == string(vpod.UID) {
		refreshAt, err := time.Parse(time.RFC3339, cur.Annotations[AnnotationTokenRefresh])
		if err == nil && now.Before(refreshAt) {
			r.pending.seenToken(vkey)
			return refreshAt.Sub(now), nil
		}
	}
	if wait := r.pending.token(vkey, vpod.UID, now); wait > 0 {
		return wait, nil // just written; the cache shows it soon
	}

	tr := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{
		Audiences:         r.TokenAudiences,
		ExpirationSeconds: ptr.To(int64(r.TokenLifetime / time.Second)),
		BoundObjectRef:    &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: vpod.Name, UID: vpod.UID},
	}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: vpod.Namespace, Name: serviceAccountOf(vpod)}}
	if err := r.Virtual.SubResource("token").Create(ctx, sa, tr); err != nil {
		return 0, fmt.Errorf("request token for service account %s/%s: %w", sa.Namespace, sa.Name, err)
	}
	exp := tr.Status.ExpirationTimestamp.Time
	refreshAt := now.Add(exp.Sub(now) * 8 / 10)

	want := TokenSecret(r.Translator, vpod, []byte(tr.Status.Token), r.CA)
	want.Annotations[AnnotationTokenRefresh] = refreshAt.UTC().Format(time.RFC3339)
	if cur == nil {
		if err := hc.Create(ctx, want); apierrors.IsAlreadyExists(err) {
			return time.Second, nil // the cache is behind: look again once it shows the Secret
		} else if err != nil {
			return 0, fmt.Errorf("create token secret %s: %w", key.Name, err)
		}
	} else {
		want.ResourceVersion = cur.ResourceVersion
		if err := hc.Update(ctx, want); err != nil {
			return 0, fmt.Errorf("update token secret %s: %w", key.Name, err)
		}
	}
	r.pending.tokenWritten(vkey, vpod.UID, now)
	return refreshAt.Sub(now), nil
}

// deleteStaleToken deletes the token Secret of a virtual pod that no longer exists.
func (r *Reconciler) deleteStaleToken(ctx context.Context, namespace, name string) error {
	s := &corev1.Secret{}
	key := types.NamespacedName{Namespace: r.Translator.Tenant().HostNamespace, Name: TokenSecretName(r.Translator, namespace, name)}
	if err := r.Host.GetClient().Get(ctx, key, s); err != nil {
		return client.IgnoreNotFound(err)
	}
	if s.Labels[LabelTokenFor] == "" || !r.Translator.IsOwned(s) {
		return nil // not a token kplex made: never touched
	}
	err := r.Host.GetClient().Delete(ctx, s, client.Preconditions{UID: &s.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete token secret %s: %w", s.Name, err)
	}
	return nil
}

func serviceAccountOf(p *corev1.Pod) string {
	if p.Spec.ServiceAccountName != "" {
		return p.Spec.ServiceAccountName
	}
	return "default"
}

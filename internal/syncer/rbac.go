package syncer

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kplex-dev/kplex/internal/activity"
)

// HostRole is everything the syncer may do in its host namespace. The operator creates it
// (with a RoleBinding to the tenant's identity); the integration tests run the syncer with
// exactly these rights.
func HostRole(namespace, name string) *rbacv1.Role {
	rw := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Rules: []rbacv1.PolicyRule{
			// Host pod status is read with the pod; kplex never writes it.
			{APIGroups: []string{""}, Resources: []string{"pods", "services", "configmaps", "secrets"}, Verbs: rw},
			// Claims are provisioned and bound by the host; their status is only read.
			{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: rw},
			// The kubelet proxy: kubectl logs, exec, attach and port-forward of the tenant's pods
			// in the virtual cluster become these subresources of their host copies. The
			// streams connect by POST (SPDY, verb create) or by GET (websockets, verb get).
			{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/attach", "pods/portforward"}, Verbs: []string{"get", "create"}},
			// Tenant policies, translated to select and admit only the tenant's own pods.
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: rw},
			// Ingresses for the host's controllers; their status (load balancer) is only read.
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: rw},
			// The tenant's last activity, which the operator reads to put it to sleep
			// (create cannot be limited to a name).
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "update"}, ResourceNames: []string{ActivityLease}},
			// What the host's components record about the tenant's objects, shown in the
			// virtual cluster; never written.
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
}

// HostClusterRole is what the syncer may read outside its namespace: nodes (the virtual
// Node objects of the nodes running the tenant's pods), StorageClasses and IngressClasses
// (shown read-only to the tenant). Nothing here is written.
func HostClusterRole(name string) *rbacv1.ClusterRole {
	ro := []string{"get", "list", "watch"}
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: ro},
			{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: ro},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingressclasses"}, Verbs: ro},
		},
	}
}

// ActivityLease is the Lease in the host namespace whose renewTime is the tenant's last
// activity (internal/activity): kplexd writes it, the operator reads it.
const ActivityLease = "kplex-activity"

// VirtualComponentsGroup is the group of kplex's own client certificates in the virtual
// cluster (the syncer's is kplex:syncer in kplex:components).
const VirtualComponentsGroup = activity.ComponentsGroup

// virtualBindingName is the ClusterRoleBinding that makes kplex's components
// cluster-admin in the virtual cluster.
const virtualBindingName = "kplex:components"

// EnsureVirtualRBAC makes kplex's components cluster-admin in the virtual cluster. It is
// idempotent; it needs an admin client (the syncer's own identity has no rights before).
func EnsureVirtualRBAC(ctx context.Context, admin kubernetes.Interface) error {
	want := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: virtualBindingName, Labels: map[string]string{"kplex.dev/component": "syncer"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: VirtualComponentsGroup}},
	}
	crb := admin.RbacV1().ClusterRoleBindings()
	cur, err := crb.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := crb.Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create cluster role binding %s: %w", want.Name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("get cluster role binding %s: %w", want.Name, err)
	}
	if cur.RoleRef != want.RoleRef {
		// roleRef is immutable: a binding altered by the tenant is replaced.
		if err := crb.Delete(ctx, want.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replace cluster role binding %s: %w", want.Name, err)
		}
		_, err := crb.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	cur.Subjects = want.Subjects
	if _, err := crb.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update cluster role binding %s: %w", want.Name, err)
	}
	return nil
}

package install

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/translate"
)

// ControlPlaneServiceAccount is the host identity of every tenant's control plane (its
// syncer), in the tenant's namespace.
const ControlPlaneServiceAccount = "kplex-controlplane"

// SyncerGuard names the ValidatingAdmissionPolicy and its binding that keep a syncer to its
// own copies.
const SyncerGuard = "kplex-syncer-own-copies"

// syncerGuardedResources are the kinds in the syncer's Role that the operator also writes in
// a tenant's namespace (its NetworkPolicies, its Services). Secrets are left out: the
// control plane publishes its kubeconfig Secret under this same identity.
func syncerGuardedResources() []admissionregistrationv1.NamedRuleWithOperations {
	rule := func(group, resource string) admissionregistrationv1.NamedRuleWithOperations {
		return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: []string{resource},
				Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
		}}
	}
	return []admissionregistrationv1.NamedRuleWithOperations{rule("networking.k8s.io", "networkpolicies"), rule("", "services")}
}

// syncerGuardPolicy lets a tenant's syncer create, change and delete NetworkPolicies and
// Services only when they carry the syncer's label (translate.LabelManagedBy), before and
// after. RBAC cannot say this (it has no label rules, and resourceNames cannot limit create
// or list), and the syncer needs write access to these kinds in its namespace. Without it, a
// control plane the tenant took over could rewrite or delete the operator's NetworkPolicies
// (kplex-tenant-pods ...) and Services in the same namespace; the operator's objects never
// carry that label (they are app.kubernetes.io/managed-by=kplex-operator), and the syncer's
// own copies always do.
func syncerGuardPolicy() *admissionregistrationv1.ValidatingAdmissionPolicy {
	has := func(obj string) string {
		return "has(" + obj + ".metadata.labels) && '" + translate.LabelManagedBy + "' in " + obj + ".metadata.labels"
	}
	p := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: SyncerGuard},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: syncerGuardedResources()},
			MatchConditions: []admissionregistrationv1.MatchCondition{{
				Name:       "tenant-syncer",
				Expression: "request.userInfo.username.matches('^system:serviceaccount:kplex-[^:]+:" + ControlPlaneServiceAccount + "$')",
			}},
			Validations: []admissionregistrationv1.Validation{
				{
					Expression: "request.operation == 'CREATE' || (" + has("oldObject") + ")",
					Message:    "a tenant's syncer may change or delete only the objects it created (label " + translate.LabelManagedBy + "): this one belongs to the kplex operator or the host admin",
					Reason:     ptr.To(metav1.StatusReasonForbidden),
				},
				{
					Expression: "request.operation == 'DELETE' || (" + has("object") + ")",
					Message:    "a tenant's syncer may write only objects labelled " + translate.LabelManagedBy,
					Reason:     ptr.To(metav1.StatusReasonForbidden),
				},
			},
		},
	}
	p.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingAdmissionPolicy"))
	return p
}

func syncerGuardBinding() *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: SyncerGuard},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        SyncerGuard,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	b.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingAdmissionPolicyBinding"))
	return b
}

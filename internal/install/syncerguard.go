package install

import (
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/syncer/networkpolicies"
	"github.com/kplex-dev/kplex/internal/translate"
)

// ControlPlaneServiceAccount is the host identity of every tenant's control plane (its
// syncer), in the tenant's namespace.
const ControlPlaneServiceAccount = "kplex-controlplane"

// SyncerGuard names the ValidatingAdmissionPolicy and its binding that keep a syncer to its
// own copies.
const SyncerGuard = "kplex-syncer-own-copies"

// NamespaceAllowsIngresses is set to "true" by the operator on the host namespace of a
// tenant whose spec allows Ingresses; without it the syncer guard refuses the tenant's
// syncer every Ingress it would create or change there.
const NamespaceAllowsIngresses = "kplex.dev/allows-ingresses"

// syncerGuardedResources are the kinds in the syncer's Role that the operator also writes in
// a tenant's namespace (its NetworkPolicies, its Services), and Ingresses, which the host's
// ingress controllers act on. Secrets are left out: the control plane publishes its
// kubeconfig Secret under this same identity.
func syncerGuardedResources() []admissionregistrationv1.NamedRuleWithOperations {
	rule := func(group, resource string) admissionregistrationv1.NamedRuleWithOperations {
		return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: []string{resource},
				Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
		}}
	}
	return []admissionregistrationv1.NamedRuleWithOperations{rule("networking.k8s.io", "networkpolicies"), rule("", "services"), rule("networking.k8s.io", "ingresses")}
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
			Variables: syncerGuardVariables(),
			Validations: append([]admissionregistrationv1.Validation{
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
			}, syncerContentValidations()...),
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

// syncerGuardVariables: the tenant's name, from the syncer's identity
// system:serviceaccount:kplex-<name>:kplex-controlplane (the match condition guarantees
// the form), and the ranges no tenant policy may allow.
func syncerGuardVariables() []admissionregistrationv1.Variable {
	var denied []string
	for _, d := range networkpolicies.DeniedCIDRs() {
		denied = append(denied, "'"+d.String()+"'")
	}
	return []admissionregistrationv1.Variable{
		{Name: "tenant", Expression: "request.userInfo.username.split(':')[2].substring(" + strconv.Itoa(len("kplex-")) + ")"},
		{Name: "denied", Expression: "[" + strings.Join(denied, ", ") + "]"},
	}
}

// syncerContentValidations judge what a syncer writes, not only whose it is: a control
// plane the tenant took over could otherwise write a labelled NetworkPolicy that opens its
// pods to other tenants (policies add up), or a Service with externalIPs. Each rule is
// what internal/syncer/networkpolicies always produces, so every legitimate copy passes:
// the policy's pods and every pod peer carry the tenant's labels as matchLabels (the
// translation adds them to every selector), no peer has a namespaceSelector (the
// translation turns them into pod selectors over the tenant's labels), every rule names
// its peers (an empty list means anywhere; the translation never leaves one empty), and
// every ipBlock lies outside each denied range and excepts each one inside it.
func syncerContentValidations() []admissionregistrationv1.Validation {
	const policy = "request.operation == 'DELETE' || request.resource.resource != 'networkpolicies' || "
	confined := func(sel string) string {
		var out []string
		for _, l := range []string{translate.LabelManagedBy, translate.LabelTenant} {
			out = append(out, "'"+l+"' in "+sel+".matchLabels && "+sel+".matchLabels['"+l+"'] == variables.tenant")
		}
		return "(has(" + sel + ".matchLabels) && " + strings.Join(out, " && ") + ")"
	}
	// everyPeer holds when cond holds for every peer p of every ingress and egress rule.
	everyPeer := func(cond string) string {
		return "(!has(object.spec.ingress) || object.spec.ingress.all(r, !has(r.from) || r.from.all(p, " + cond + "))) && " +
			"(!has(object.spec.egress) || object.spec.egress.all(r, !has(r.to) || r.to.all(p, " + cond + ")))"
	}
	deny := func(expr, msg string) admissionregistrationv1.Validation {
		return admissionregistrationv1.Validation{Expression: expr, Message: msg, Reason: ptr.To(metav1.StatusReasonForbidden)}
	}
	const tenantLabels = translate.LabelManagedBy + " and " + translate.LabelTenant + " equal to the tenant's name"
	return []admissionregistrationv1.Validation{
		deny(policy+confined("object.spec.podSelector"),
			"a tenant's NetworkPolicy copy must select only the tenant's pods: spec.podSelector.matchLabels needs "+tenantLabels),
		deny(policy+"(!has(object.spec.ingress) || object.spec.ingress.all(r, has(r.from) && size(r.from) > 0)) && "+
			"(!has(object.spec.egress) || object.spec.egress.all(r, has(r.to) && size(r.to) > 0))",
			"a tenant's NetworkPolicy copy must name the peers of every rule: an empty from or to means anywhere, beyond the tenant"),
		deny(policy+everyPeer("!has(p.namespaceSelector)"),
			"a tenant's NetworkPolicy copy may not have a namespaceSelector peer: it reaches other namespaces, beyond the tenant"),
		deny(policy+everyPeer("!has(p.podSelector) || "+confined("p.podSelector")),
			"a tenant's NetworkPolicy copy may name only the tenant's pods: every peer podSelector.matchLabels needs "+tenantLabels),
		deny(policy+everyPeer("!has(p.ipBlock) || variables.denied.all(d, !cidr(d).containsCIDR(p.ipBlock.cidr) && "+
			"(!cidr(p.ipBlock.cidr).containsCIDR(d) || has(p.ipBlock.except) && p.ipBlock.except.exists(e, cidr(e).containsCIDR(d))))"),
			"a tenant's NetworkPolicy copy may not allow the cluster's or host's networks: every ipBlock must lie outside each denied range "+
				"(private, shared, loopback, link-local, multicast, reserved) and list in except each one inside it"),
		deny("request.operation == 'DELETE' || request.resource.resource != 'services' || !has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
			"a tenant's Service copy may not set spec.externalIPs: they capture traffic to addresses the tenant does not own"),
		// kplexd refuses the tenant's Ingresses unless allowed; a control plane the tenant
		// took over could still write host copies for the shared ingress controllers (and
		// claim host names there). Only the operator labels namespaces.
		deny("request.operation == 'DELETE' || request.resource.resource != 'ingresses' || "+
			"has(namespaceObject.metadata.labels) && '"+NamespaceAllowsIngresses+"' in namespaceObject.metadata.labels && "+
			"namespaceObject.metadata.labels['"+NamespaceAllowsIngresses+"'] == 'true'",
			"a tenant's syncer may write Ingresses only while its VirtualCluster allows them (spec.isolation.allowIngresses)"),
	}
}

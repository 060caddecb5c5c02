package translate

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// HostSelector translates a label selector written in virtualNamespace (a
// NetworkPolicy's podSelector, a workload's selector) into one that selects,
// among host objects, exactly the host copies of the virtual objects in
// virtualNamespace that sel selects. Requirements keep their operator and
// values with translated keys; the confinement labels (managed-by, tenant,
// virtual namespace) are added as matchLabels, so even NotIn and DoesNotExist
// cannot reach another namespace or tenant. A nil selector selects nothing on
// both sides and stays nil; an empty one selects the whole virtual namespace.
// An invalid selector is an error, as it would be on the virtual side.
func (t *Translator) HostSelector(virtualNamespace string, sel *metav1.LabelSelector) (*metav1.LabelSelector, error) {
	if sel == nil {
		return nil, nil
	}
	return translateSelector(t.confinement(virtualNamespace), sel, fmt.Sprintf("namespace %q", virtualNamespace))
}

// HostSelectorIn translates a pod selector that applies in several virtual
// namespaces at once (a NetworkPolicy peer whose namespaceSelector matched
// them) like HostSelector: it selects exactly the host copies of the pods in
// those namespaces that sel selects, and never anything of another tenant.
// A nil sel selects every pod of those namespaces; no namespaces, nothing.
func (t *Translator) HostSelectorIn(virtualNamespaces []string, sel *metav1.LabelSelector) (*metav1.LabelSelector, error) {
	values := make([]string, 0, len(virtualNamespaces))
	for _, ns := range virtualNamespaces {
		values = append(values, namespaceLabelValue(ns))
	}
	slices.Sort(values)
	ns := metav1.LabelSelectorRequirement{Key: LabelVirtualNamespace, Operator: metav1.LabelSelectorOpIn, Values: slices.Compact(values)}
	if len(values) == 0 {
		// Every copy carries the label: this matches none of them.
		ns = metav1.LabelSelectorRequirement{Key: LabelVirtualNamespace, Operator: metav1.LabelSelectorOpDoesNotExist}
	}
	return t.hostSelectorAcross(ns, sel, "namespaces")
}

// HostSelectorAnyNamespace is HostSelectorIn for every virtual namespace: the
// host copies of all of this tenant's objects that sel (nil: all) selects.
func (t *Translator) HostSelectorAnyNamespace(sel *metav1.LabelSelector) (*metav1.LabelSelector, error) {
	return t.hostSelectorAcross(metav1.LabelSelectorRequirement{Key: LabelVirtualNamespace, Operator: metav1.LabelSelectorOpExists}, sel, "any namespace")
}

func (t *Translator) hostSelectorAcross(ns metav1.LabelSelectorRequirement, sel *metav1.LabelSelector, where string) (*metav1.LabelSelector, error) {
	if sel == nil {
		sel = &metav1.LabelSelector{}
	}
	tenant := t.confinement("")
	delete(tenant, LabelVirtualNamespace)
	out, err := translateSelector(tenant, sel, where)
	if err != nil {
		return nil, err
	}
	out.MatchExpressions = append(out.MatchExpressions, ns)
	return out, nil
}

// translateSelector validates sel as the virtual side does (keys, values,
// operators) and returns it with translated keys, ANDed with confinement.
func translateSelector(confinement map[string]string, sel *metav1.LabelSelector, where string) (*metav1.LabelSelector, error) {
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return nil, fmt.Errorf("translate label selector of %s: %w", where, err)
	}
	out := &metav1.LabelSelector{MatchLabels: confinement}
	for k, v := range sel.MatchLabels {
		out.MatchLabels[hostLabelKey(k)] = v
	}
	for _, r := range sel.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{
			Key:      hostLabelKey(r.Key),
			Operator: r.Operator,
			Values:   slices.Clone(r.Values),
		})
	}
	return out, nil
}

// HostSelectorMap translates an equality selector (a Service's spec.selector)
// like HostSelector. An empty selector stays nil: for a Service it means "no
// selector, endpoints are managed by hand", not "every pod of the namespace".
func (t *Translator) HostSelectorMap(virtualNamespace string, sel map[string]string) (map[string]string, error) {
	if len(sel) == 0 {
		return nil, nil
	}
	if _, err := labels.ValidatedSelectorFromSet(sel); err != nil {
		return nil, fmt.Errorf("translate selector of namespace %q: %w", virtualNamespace, err)
	}
	return t.HostLabels(virtualNamespace, sel), nil
}

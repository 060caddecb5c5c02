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
	// The same validation the virtual side applies: keys, values, operators.
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return nil, fmt.Errorf("translate label selector of namespace %q: %w", virtualNamespace, err)
	}
	out := &metav1.LabelSelector{MatchLabels: t.confinement(virtualNamespace)}
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

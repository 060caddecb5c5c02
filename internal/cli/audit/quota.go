package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/translate"
)

// quotaGroup: the host ResourceQuota (spec.isolation.quota) holds, and the tenant cannot
// see or change it.
func quotaGroup() group {
	return group{name: "quota", checks: []check{
		{"CPU requests beyond spec.isolation.quota.cpu", cpuBeyondQuota},
		{"host ResourceQuota not visible in the virtual cluster", hostQuotaHidden},
		{"a ResourceQuota made in the virtual cluster leaves the host's unchanged", hostQuotaUnchanged},
	}}
}

// hostQuotas are the ResourceQuotas of the tenant's host namespace.
func (e *env) hostQuotas(ctx context.Context) ([]corev1.ResourceQuota, error) {
	l := &corev1.ResourceQuotaList{}
	ns := v1alpha1.HostNamespace(e.vc.Name)
	if err := e.host.Client.List(ctx, l, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("list the ResourceQuotas of host namespace %s: %w", ns, e.host.Explain(err))
	}
	return l.Items, nil
}

// cpuBeyondQuota asks for more CPU than the host quota has left: the host must refuse the
// host copy, so that the pod never runs.
func cpuBeyondQuota(ctx context.Context, e *env) (Outcome, string) {
	quotas, err := e.hostQuotas(ctx)
	if err != nil {
		return Error, err.Error()
	}
	var hard resource.Quantity
	var quota string
	for _, q := range quotas {
		for _, name := range []corev1.ResourceName{corev1.ResourceRequestsCPU, corev1.ResourceCPU} {
			if h, ok := q.Spec.Hard[name]; ok && (quota == "" || h.Cmp(hard) < 0) {
				hard, quota = h, q.Name
			}
		}
	}
	hostNS := v1alpha1.HostNamespace(e.vc.Name)
	if quota == "" {
		return Fail, fmt.Sprintf("host namespace %s has no ResourceQuota on CPU requests: the tenant can take the host's CPU (the operator sets one from spec.isolation.quota)", hostNS)
	}
	want := hard.DeepCopy()
	want.Add(resource.MustParse("1"))
	p := compliantPod("kplex-audit-quota", e.image)
	p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: want}
	vp, err := e.virtual.Client.CoreV1().Pods(e.ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		// The virtual cluster refusing it is fine too, if less telling.
		return refused(err, "", nil)
	}
	// The syncer tries the host copy at once; a refusal is retried, so a host copy that
	// has not appeared within this time was refused.
	var hostPod string
	_ = wait.PollUntilContextTimeout(ctx, time.Second, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		hostPod = e.hostCopy(ctx, vp)
		return hostPod != "", nil
	})
	if hostPod != "" {
		return Fail, fmt.Sprintf("the host accepted pod %s (copy of %s/%s) requesting cpu %s, beyond the %s hard limit of %s in ResourceQuota %s/%s",
			hostPod, e.ns, p.Name, want.String(), hard.String(), corev1.ResourceRequestsCPU, hostNS, quota)
	}
	why := e.warnings(ctx, vp)
	if why == "" {
		why = "the virtual pod shows no reason"
	}
	return Pass, fmt.Sprintf("no host copy of pod %s/%s (cpu request %s, quota %s/%s hard %s) after 20s; %s", e.ns, p.Name, want.String(), hostNS, quota, hard.String(), why)
}

// hostCopy is the name of the host pod that copies vp, or "".
func (e *env) hostCopy(ctx context.Context, vp *corev1.Pod) string {
	l := &corev1.PodList{}
	if err := e.host.Client.List(ctx, l, client.InNamespace(v1alpha1.HostNamespace(e.vc.Name))); err != nil {
		return ""
	}
	for _, hp := range l.Items {
		if a := hp.Annotations; a[translate.AnnotationVirtualNamespace] == vp.Namespace && a[translate.AnnotationVirtualName] == vp.Name {
			return hp.Name
		}
	}
	return ""
}

// warnings are the messages of the virtual pod's Warning events.
func (e *env) warnings(ctx context.Context, vp *corev1.Pod) string {
	evs, err := e.virtual.Client.CoreV1().Events(vp.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", vp.Name).String()})
	if err != nil {
		return ""
	}
	var msgs []string
	for _, ev := range evs.Items {
		if ev.Type == corev1.EventTypeWarning && !slices.Contains(msgs, ev.Message) {
			msgs = append(msgs, ev.Reason+": "+ev.Message)
		}
	}
	if len(msgs) == 0 {
		return ""
	}
	return "the virtual pod shows: " + strings.Join(msgs, "; ")
}

// hostQuotaHidden: no ResourceQuota of the virtual cluster is the host's.
func hostQuotaHidden(ctx context.Context, e *env) (Outcome, string) {
	quotas, err := e.hostQuotas(ctx)
	if err != nil {
		return Error, err.Error()
	}
	if len(quotas) == 0 {
		return Skip, fmt.Sprintf("host namespace %s has no ResourceQuota to hide", v1alpha1.HostNamespace(e.vc.Name))
	}
	vqs, err := e.virtual.Client.CoreV1().ResourceQuotas(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return Error, "list the virtual cluster's ResourceQuotas: " + err.Error()
	}
	for _, vq := range vqs.Items {
		for _, hq := range quotas {
			if vq.Name == hq.Name || (len(hq.Spec.Hard) > 0 && equality.Semantic.DeepEqual(vq.Spec.Hard, hq.Spec.Hard)) {
				return Fail, fmt.Sprintf("virtual ResourceQuota %s/%s mirrors host ResourceQuota %s/%s", vq.Namespace, vq.Name, hq.Namespace, hq.Name)
			}
		}
	}
	return Pass, fmt.Sprintf("the virtual cluster lists %d ResourceQuotas, none of them the host's %s", len(vqs.Items), quotaNames(quotas))
}

// hostQuotaUnchanged creates, in the virtual cluster, a ResourceQuota with the host
// quota's name and huge limits, and checks that the host's quotas stay as they were.
func hostQuotaUnchanged(ctx context.Context, e *env) (Outcome, string) {
	before, err := e.hostQuotas(ctx)
	if err != nil {
		return Error, err.Error()
	}
	name := "kplex-quota"
	if len(before) > 0 {
		name = before[0].Name
	}
	big := resource.MustParse("1000000")
	vq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
		corev1.ResourceRequestsCPU: big, corev1.ResourceRequestsMemory: resource.MustParse("1000Ti"), corev1.ResourcePods: big}}}
	vqs := e.virtual.Client.CoreV1().ResourceQuotas(e.ns)
	if _, err := vqs.Create(ctx, vq, metav1.CreateOptions{}); err != nil {
		if o, evidence := refused(err, "", nil); o == Pass {
			return Pass, "the virtual cluster " + evidence
		}
		return Error, "create a ResourceQuota in the virtual cluster: " + err.Error()
	}
	// Gone again before the next checks: a quota on requests makes the virtual API server
	// refuse pods that name none.
	defer func() { _ = vqs.Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{}) }()
	// Long enough for a syncer to have copied it, were it copied.
	select {
	case <-ctx.Done():
		return Error, ctx.Err().Error()
	case <-time.After(5 * time.Second):
	}
	after, err := e.hostQuotas(ctx)
	if err != nil {
		return Error, err.Error()
	}
	if changed := quotaChanges(before, after); changed != "" {
		return Fail, "after ResourceQuota " + e.ns + "/" + name + " was made in the virtual cluster, the host's changed: " + changed
	}
	return Pass, fmt.Sprintf("ResourceQuota %s/%s (1000000 CPUs) made in the virtual cluster; after 5s the host's %s are unchanged", e.ns, name, quotaNames(after))
}

// quotaChanges says how the host quotas after differ from before, or "".
func quotaChanges(before, after []corev1.ResourceQuota) string {
	var diffs []string
	old := map[string]corev1.ResourceQuota{}
	for _, q := range before {
		old[q.Name] = q
	}
	for _, q := range after {
		o, ok := old[q.Name]
		switch {
		case !ok:
			diffs = append(diffs, "new ResourceQuota "+q.Name+" hard "+resourceList(q.Spec.Hard))
		case !equality.Semantic.DeepEqual(o.Spec, q.Spec):
			diffs = append(diffs, "ResourceQuota "+q.Name+" hard "+resourceList(o.Spec.Hard)+" -> "+resourceList(q.Spec.Hard))
		}
		delete(old, q.Name)
	}
	for n := range old {
		diffs = append(diffs, "ResourceQuota "+n+" deleted")
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "; ")
}

func resourceList(l corev1.ResourceList) string {
	var parts []string
	for k, v := range l {
		parts = append(parts, string(k)+"="+v.String())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func quotaNames(qs []corev1.ResourceQuota) string {
	var names []string
	for _, q := range qs {
		names = append(names, q.Namespace+"/"+q.Name)
	}
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

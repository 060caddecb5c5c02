package audit

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/operator"
)

// otherTenant is what the audited tenant must not reach of another tenant on the host.
type otherTenant struct {
	Name string
	// Pod is one of its running workload pods (one with a declared TCP port when it has
	// one), nil when it runs none.
	Pod *corev1.Pod
	// PodTarget and ServiceTarget are the pod address and the Service ClusterIP address the
	// network checks aim at: none the tenant exposes on purpose (exposure.pickPod,
	// exposure.pickService). When there is none, the Skip field says why.
	PodTarget, ServiceTarget addrTarget
	PodSkip, ServiceSkip     string
	// APIService and APIPod are its control plane.
	APIService *corev1.Service
	APIPod     *corev1.Pod
}

// otherTenant finds another tenant with a running control plane (the first by name), or
// nil when there is none. The result is kept for the following checks.
func (e *env) otherTenant(ctx context.Context) (*otherTenant, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.otherLooked {
		return e.other, nil
	}
	vcs := &v1alpha1.VirtualClusterList{}
	if err := e.host.Client.List(ctx, vcs); err != nil {
		return nil, fmt.Errorf("list virtual clusters: %w", e.host.Explain(err))
	}
	sort.Slice(vcs.Items, func(i, j int) bool { return vcs.Items[i].Name < vcs.Items[j].Name })
	for _, vc := range vcs.Items {
		if vc.Name == e.vc.Name {
			continue
		}
		o, err := e.readTenant(ctx, vc.Name)
		if err != nil {
			return nil, err
		}
		if o != nil {
			e.other, e.otherLooked = o, true
			return o, nil
		}
	}
	e.otherLooked = true
	return nil, nil
}

// readTenant reads tenant name's host objects; nil when its control plane does not run.
func (e *env) readTenant(ctx context.Context, name string) (*otherTenant, error) {
	ns := v1alpha1.HostNamespace(name)
	svcs := &corev1.ServiceList{}
	if err := e.host.Client.List(ctx, svcs, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("list the Services of host namespace %s: %w", ns, e.host.Explain(err))
	}
	pods := &corev1.PodList{}
	if err := e.host.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("list the pods of host namespace %s: %w", ns, e.host.Explain(err))
	}
	pols := &networkingv1.NetworkPolicyList{}
	if err := e.host.Client.List(ctx, pols, client.InNamespace(ns), client.HasLabels{operator.LabelExposedService}); err != nil {
		return nil, fmt.Errorf("list the exposure policies of host namespace %s: %w", ns, e.host.Explain(err))
	}
	o := &otherTenant{Name: name}
	var cpSelector labels.Selector
	var workloadSvcs []*corev1.Service
	for i := range svcs.Items {
		s := &svcs.Items[i]
		switch {
		case s.Name == operator.ServiceName:
			o.APIService = s
			cpSelector = labels.SelectorFromSet(s.Spec.Selector)
		case s.Name == operator.DNSServiceName || s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone || len(s.Spec.Ports) == 0:
		default:
			workloadSvcs = append(workloadSvcs, s)
		}
	}
	if o.APIService == nil || len(o.APIService.Spec.Selector) == 0 {
		return nil, nil
	}
	var workloadPods []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		switch {
		case cpSelector.Matches(labels.Set(p.Labels)):
			o.APIPod = p
		default:
			workloadPods = append(workloadPods, p)
			if o.Pod == nil || (tcpPort(o.Pod) == 0 && tcpPort(p) != 0) {
				o.Pod = p
			}
		}
	}
	if o.APIPod == nil {
		return nil, nil
	}
	x := exposure(pols.Items)
	if o.Pod == nil {
		o.PodSkip = "tenant " + name + " runs no workload pod"
	} else if t, why, ok := x.pickPod(name, workloadPods); ok {
		o.PodTarget = t
	} else {
		o.PodSkip = why
	}
	if t, why, ok := x.pickService(name, workloadSvcs, workloadPods); ok {
		o.ServiceTarget = t
	} else {
		o.ServiceSkip = why
	}
	return o, nil
}

// tcpPort is the pod's first declared TCP container port, or 0.
func tcpPort(p *corev1.Pod) int32 {
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP {
				return cp.ContainerPort
			}
		}
	}
	return 0
}

// foreignPod is a running host pod the tenant must not reach through the kubelet proxy:
// another tenant's (a workload pod, else its control plane), else kplex's operator.
func (e *env) foreignPod(ctx context.Context) (*corev1.Pod, error) {
	o, err := e.otherTenant(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case o != nil && o.Pod != nil:
		return o.Pod, nil
	case o != nil:
		return o.APIPod, nil
	}
	pods := &corev1.PodList{}
	if err := e.host.Client.List(ctx, pods, client.InNamespace(install.Namespace)); err != nil {
		return nil, fmt.Errorf("list the pods of host namespace %s: %w", install.Namespace, e.host.Explain(err))
	}
	for i := range pods.Items {
		if pods.Items[i].Status.Phase == corev1.PodRunning {
			return &pods.Items[i], nil
		}
	}
	return nil, nil
}

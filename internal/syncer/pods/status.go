package pods

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// VirtualStatus is the virtual pod's status given its host copy's: what the host's
// kubelet reports, except the QoS class (computed by the virtual API server) and the
// containers the host pod has and the virtual one has not (the network gate).
func VirtualStatus(virtual *corev1.Pod, host *corev1.PodStatus) corev1.PodStatus {
	s := *virtual.Status.DeepCopy()
	h := host.DeepCopy()
	hideInitContainers(&virtual.Spec, h)
	s.Phase = h.Phase
	s.Conditions = h.Conditions
	s.Message = h.Message
	s.Reason = h.Reason
	s.HostIP = h.HostIP
	s.HostIPs = h.HostIPs
	s.PodIP = h.PodIP
	s.PodIPs = h.PodIPs
	s.StartTime = h.StartTime
	s.InitContainerStatuses = h.InitContainerStatuses
	s.ContainerStatuses = h.ContainerStatuses
	s.EphemeralContainerStatuses = h.EphemeralContainerStatuses
	s.Resize = h.Resize //nolint:staticcheck // still reported by 1.37 kubelets
	s.ResourceClaimStatuses = h.ResourceClaimStatuses
	return s
}

// syncBack binds the virtual pod to the host pod's node and copies its status. While a
// binding it made is not in the virtual cache yet, it returns how long to trust it.
func (r *Reconciler) syncBack(ctx context.Context, vpod, hpod *corev1.Pod) (time.Duration, error) {
	key := client.ObjectKeyFromObject(vpod)
	if vpod.Spec.NodeName != "" {
		r.pending.seenBinding(key)
	} else if hpod.Spec.NodeName != "" && vpod.DeletionTimestamp == nil {
		// Events about the host pod (its status, its token) arrive before the binding's own
		// update reaches the virtual cache: binding again would only be refused.
		if wait := r.pending.binding(key, vpod.UID, time.Now()); wait > 0 {
			return wait, nil
		}
		// The virtual API server accepts nodeName only through the binding subresource,
		// as from a scheduler. The binding's update event brings the pod back for status.
		b := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Namespace: vpod.Namespace, Name: vpod.Name, UID: vpod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: hpod.Spec.NodeName},
		}
		if err := r.Virtual.SubResource("binding").Create(ctx, vpod, b); err != nil {
			return 0, fmt.Errorf("bind virtual pod %s/%s to node %s: %w", vpod.Namespace, vpod.Name, hpod.Spec.NodeName, err)
		}
		r.pending.podBound(key, vpod.UID, time.Now())
		return 0, nil
	}
	if hpod.Status.Phase == "" {
		return 0, nil // nothing reported yet
	}
	want := VirtualStatus(vpod, &hpod.Status)
	if equality.Semantic.DeepEqual(want, vpod.Status) {
		return 0, nil
	}
	upd := vpod.DeepCopy()
	upd.Status = want
	// A merge patch: the kubelet-owned fields are replaced whatever the cache's version.
	if err := r.Virtual.Status().Patch(ctx, upd, client.MergeFrom(vpod)); err != nil {
		return 0, fmt.Errorf("update status of virtual pod %s/%s: %w", vpod.Namespace, vpod.Name, err)
	}
	return 0, nil
}

// hideInitContainers removes from h the init containers spec does not have: their status,
// and their names from the conditions' messages. While only they hold the pod back, a
// condition says so in kplex's words, with the gate's failure message if it has one.
func hideInitContainers(spec *corev1.PodSpec, h *corev1.PodStatus) {
	own := make(map[string]bool, len(spec.InitContainers))
	for _, c := range spec.InitContainers {
		own[c.Name] = true
	}
	hidden := map[string]bool{}
	var why string
	kept := h.InitContainerStatuses[:0]
	for _, st := range h.InitContainerStatuses {
		if own[st.Name] {
			kept = append(kept, st)
			continue
		}
		hidden[st.Name] = true
		if t := st.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 && t.Message != "" {
			why = strings.TrimSpace(t.Message)
		}
		if t := st.State.Terminated; t != nil && t.ExitCode != 0 && t.Message != "" {
			why = strings.TrimSpace(t.Message)
		}
	}
	if len(hidden) == 0 {
		return
	}
	h.InitContainerStatuses = kept
	for i := range h.Conditions {
		c := &h.Conditions[i]
		msg, changed := hideContainers(c.Message, hidden)
		if !changed {
			continue
		}
		if msg == "" {
			msg = gateWaiting
			if why != "" {
				msg += ": " + why
			}
		}
		c.Message = msg
	}
}

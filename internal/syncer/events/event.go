package events

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Name is the virtual event's name for the host event with UID hostUID about the virtual
// object virtualName: the same for every reconcile and every syncer start, so a host event
// has exactly one virtual event, and readable like the events kubectl lists.
func Name(virtualName string, hostUID string) string {
	sum := sha256.Sum256([]byte("kplex-event\x00" + hostUID))
	suffix := "." + hex.EncodeToString(sum[:8])
	prefix := virtualName
	if len(prefix) > validation.DNS1123SubdomainMaxLength-len(suffix) {
		prefix = strings.TrimRight(prefix[:validation.DNS1123SubdomainMaxLength-len(suffix)], ".-")
	}
	return prefix + suffix
}

// Virtual is the virtual event for host event ev about host, the host copy of virtual.
// ok is false when the event must not be shown: it is about a container the tenant did
// not define (one the host injected). The caller has checked that host copies virtual.
func Virtual(ev *corev1.Event, host, virtual client.Object, rw Rewriter) (_ *corev1ac.EventApplyConfiguration, ok bool) {
	ref := ev.InvolvedObject
	if !tenantFieldPath(ref.FieldPath, virtual) {
		return nil, false
	}
	node := ""
	if p, isPod := host.(*corev1.Pod); isPod {
		node = p.Spec.NodeName
	}
	out := corev1ac.Event(Name(virtual.GetName(), string(ev.UID)), virtual.GetNamespace()).
		WithInvolvedObject(corev1ac.ObjectReference().
			WithAPIVersion(ref.APIVersion).WithKind(ref.Kind).
			WithNamespace(virtual.GetNamespace()).WithName(virtual.GetName()).WithUID(virtual.GetUID()).
			WithFieldPath(ref.FieldPath)).
		WithType(ev.Type).
		WithReason(ev.Reason).
		WithMessage(rw.Message(ev.Message)).
		WithSource(corev1ac.EventSource().WithComponent(ev.Source.Component).WithHost(onlyNode(ev.Source.Host, node)))
	if ev.Count != 0 {
		out.WithCount(ev.Count)
	}
	if !ev.FirstTimestamp.IsZero() {
		out.WithFirstTimestamp(ev.FirstTimestamp)
	}
	if !ev.LastTimestamp.IsZero() {
		out.WithLastTimestamp(ev.LastTimestamp)
	}
	if !ev.EventTime.IsZero() {
		out.WithEventTime(ev.EventTime)
	}
	if s := ev.Series; s != nil {
		out.WithSeries(corev1ac.EventSeries().WithCount(s.Count).WithLastObservedTime(s.LastObservedTime))
	}
	if ev.Action != "" {
		out.WithAction(ev.Action)
	}
	if c := ev.ReportingController; c != "" {
		// The instance names the host component's replica (a scheduler's host name): only
		// the pod's node, which the tenant sees, is kept. An event with eventTime needs one.
		instance := onlyNode(ev.ReportingInstance, node)
		if instance == "" {
			instance = c
		}
		out.WithReportingController(c).WithReportingInstance(instance)
	}
	// ev.Related is left out: a preemption event names the preemptor, perhaps another
	// tenant's pod.
	return out, true
}

// onlyNode is s if it is the pod's node, else "".
func onlyNode(s, node string) string {
	if s != "" && s == node {
		return s
	}
	return ""
}

// tenantFieldPath reports whether fieldPath is empty or names a container of the virtual
// pod ("spec.containers{app}"): an event about a container the host injected, or a field
// path kplex does not understand, is not the tenant's business.
func tenantFieldPath(fieldPath string, virtual client.Object) bool {
	if fieldPath == "" {
		return true
	}
	pod, ok := virtual.(*corev1.Pod)
	if !ok {
		return false
	}
	list, rest, ok := strings.Cut(fieldPath, "{")
	name, tail, ok2 := strings.Cut(rest, "}")
	if !ok || !ok2 || tail != "" {
		return false
	}
	switch list {
	case "spec.containers":
		return hasContainer(pod.Spec.Containers, name)
	case "spec.initContainers":
		return hasContainer(pod.Spec.InitContainers, name)
	case "spec.ephemeralContainers":
		for _, c := range pod.Spec.EphemeralContainers {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

func hasContainer(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

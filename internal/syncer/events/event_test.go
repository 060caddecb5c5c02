package events

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

func TestName(t *testing.T) {
	a, b := Name("web", "uid-1"), Name("web", "uid-2")
	if a != Name("web", "uid-1") || a == b || !strings.HasPrefix(a, "web.") {
		t.Errorf("names %q %q: want stable, distinct per host event, prefixed by the object", a, b)
	}
	long := Name(strings.Repeat("a", 240)+"-"+strings.Repeat("b", 12), "uid-1")
	if errs := validation.IsDNS1123Subdomain(long); len(errs) > 0 {
		t.Errorf("name %q: %v", long, errs)
	}
}

func testPods() (host, virtual *corev1.Pod) {
	host = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kplex-acme", Name: "web-shop-abcdefgh04", UID: hostUID},
		Spec:       corev1.PodSpec{NodeName: "worker-a", Containers: []corev1.Container{{Name: "app"}, {Name: "injected-proxy"}}},
	}
	virtual = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: virtualUID},
		Spec:       corev1.PodSpec{NodeName: "worker-a", Containers: []corev1.Container{{Name: "app"}}, InitContainers: []corev1.Container{{Name: "setup"}}},
	}
	return host, virtual
}

func TestVirtual(t *testing.T) {
	host, virtual := testPods()
	now := metav1.NewTime(time.Unix(1700000000, 0))
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kplex-acme", Name: "web-shop-abcdefgh04.17a", UID: "host-event-1"},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "kplex-acme", Name: host.Name, UID: hostUID,
			ResourceVersion: "4711", FieldPath: "spec.containers{app}"},
		Type: corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container app in pod web-shop-abcdefgh04_kplex-acme",
		Source: corev1.EventSource{Component: "kubelet", Host: "worker-a"}, Count: 7, FirstTimestamp: now, LastTimestamp: now,
		ReportingController: "kubelet", ReportingInstance: "worker-a",
		Related: &corev1.ObjectReference{Kind: "Pod", Namespace: "kplex-globex", Name: "secret-pod"},
	}
	got, ok := Virtual(ev, host, virtual, testRewriter())
	if !ok {
		t.Fatal("event about the tenant's container refused")
	}
	ref := got.InvolvedObject
	if *got.Name != Name("web", "host-event-1") || *got.Namespace != "shop" ||
		*ref.Namespace != "shop" || *ref.Name != "web" || *ref.UID != virtualUID || *ref.Kind != "Pod" || *ref.APIVersion != "v1" ||
		ref.ResourceVersion != nil || *ref.FieldPath != "spec.containers{app}" {
		t.Errorf("virtual event %s/%s about %+v", *got.Namespace, *got.Name, ref)
	}
	if *got.Message != "Back-off restarting failed container app in pod web_shop" || *got.Count != 7 || *got.Reason != "BackOff" ||
		*got.Type != corev1.EventTypeWarning || !got.FirstTimestamp.Equal(&now) || !got.LastTimestamp.Equal(&now) {
		t.Errorf("virtual event %q count %d reason %s type %s", *got.Message, *got.Count, *got.Reason, *got.Type)
	}
	if *got.Source.Component != "kubelet" || *got.Source.Host != "worker-a" || *got.ReportingInstance != "worker-a" || got.Related != nil {
		t.Errorf("source %+v instance %s related %v: want the pod's node kept and no related object", got.Source, *got.ReportingInstance, got.Related)
	}

	// A scheduler's event: its instance (the scheduler's host name) is not shown.
	sched := ev.DeepCopy()
	sched.InvolvedObject.FieldPath, sched.Source = "", corev1.EventSource{}
	sched.EventTime = metav1.NewMicroTime(now.Time)
	sched.Series = &corev1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(now.Time)}
	sched.ReportingController, sched.ReportingInstance, sched.Action = "default-scheduler", "default-scheduler-cp-node-7", "Scheduling"
	got, _ = Virtual(sched, host, virtual, testRewriter())
	if *got.ReportingController != "default-scheduler" || *got.ReportingInstance != "default-scheduler" || *got.Action != "Scheduling" ||
		*got.Series.Count != 3 || got.EventTime == nil || ptr.Deref(got.Source.Host, "") != "" {
		t.Errorf("scheduler event: controller %s instance %s action %s series %+v", *got.ReportingController, *got.ReportingInstance, *got.Action, got.Series)
	}
}

func TestVirtualFieldPath(t *testing.T) {
	host, virtual := testPods()
	for path, shown := range map[string]bool{
		"":                                true,
		"spec.containers{app}":            true,
		"spec.initContainers{setup}":      true,
		"spec.containers{injected-proxy}": false, // a container the host added
		"spec.initContainers{app}":        false,
		"spec.containers{app}x":           false,
		"spec.containers[0]":              false,
	} {
		ev := &corev1.Event{InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", FieldPath: path}}
		if _, ok := Virtual(ev, host, virtual, testRewriter()); ok != shown {
			t.Errorf("field path %q: shown %v, want %v", path, ok, shown)
		}
	}
	claim := &corev1.PersistentVolumeClaim{}
	if _, ok := Virtual(&corev1.Event{InvolvedObject: corev1.ObjectReference{FieldPath: "spec"}}, claim, claim, testRewriter()); ok {
		t.Error("a field path on a claim was shown")
	}
}

package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/syncer/events"
	"github.com/kplex-dev/kplex/internal/translate"
)

// TestSyncerEvents: events the host records about the tenant's host objects appear in
// the virtual cluster about the virtual objects, with host names rewritten, once each;
// events about anything else never do.
func TestSyncerEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := newSyncEnv(ctx, t)
	mustNamespace(ctx, t, e.vAdmin, "shop")
	waitServiceAccount(ctx, t, e.vAdmin, "shop")
	vp, err := e.vAdmin.CoreV1().Pods("shop").Create(ctx, testPod("shop", "web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hp := e.waitHostPod(ctx, t, "shop", "web", nil)

	// As the kubelet's recorder writes it: its message names the host pod, namespace and
	// UID, and an address of the host's.
	backoff := e.hostEvent(ctx, t, hp, "BackOff", fmt.Sprintf("Back-off restarting failed container app in pod %s_%s(%s) via 192.168.3.3",
		hp.Name, hostNS, hp.UID), func(ev *corev1.Event) { ev.InvolvedObject.FieldPath = "spec.containers{app}" })

	t.Run("an event about a synced pod is shown on the virtual pod", func(t *testing.T) {
		got := e.waitVirtualEvent(ctx, t, vp, "BackOff", nil)
		want := fmt.Sprintf("Back-off restarting failed container app in pod web_shop(%s) via <hidden>", vp.UID)
		if got.Message != want {
			t.Errorf("message %q, want %q", got.Message, want)
		}
		ref := got.InvolvedObject
		if got.Name != events.Name("web", string(backoff.UID)) || ref.Kind != "Pod" || ref.APIVersion != "v1" || ref.Namespace != "shop" ||
			ref.Name != "web" || ref.UID != vp.UID || ref.ResourceVersion != "" || ref.FieldPath != "spec.containers{app}" {
			t.Errorf("virtual event %s about %+v", got.Name, ref)
		}
		if got.Type != corev1.EventTypeWarning || got.Count != 1 || !got.FirstTimestamp.Equal(&backoff.FirstTimestamp) ||
			got.Source.Component != "kubelet" || got.ReportingController != "kubelet" {
			t.Errorf("virtual event %+v does not carry the host event's type, count, timestamps and source", got)
		}
	})

	t.Run("a count update propagates", func(t *testing.T) {
		e.bumpHostEvent(ctx, t, backoff.Name, 5)
		e.waitVirtualEvent(ctx, t, vp, "BackOff", func(ev *corev1.Event) bool { return ev.Count == 5 })
	})

	t.Run("events about objects not the tenant's are never shown", func(t *testing.T) {
		// The control plane's own pod: no managed-by label.
		own := e.hostPodAs(ctx, t, "acme-0", nil, nil)
		e.hostEvent(ctx, t, own, "Pulled", "marker-own-pod", nil)
		// Another tenant's pod in the same namespace whose annotations claim the tenant's pod.
		claims := map[string]string{translate.AnnotationVirtualNamespace: "shop", translate.AnnotationVirtualName: "web",
			translate.AnnotationVirtualUID: string(vp.UID)}
		other := e.hostPodAs(ctx, t, e.tr.HostName("shop", "web")+"x", map[string]string{translate.LabelManagedBy: "globex"}, claims)
		e.hostEvent(ctx, t, other, "Pulled", "marker-other-tenant", nil)
		// A kind that is never synced.
		e.hostEvent(ctx, t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "acme", UID: "1d2f7c1e-7b7e-4a53-9f2e-1c1b0f6c9d11"}}, "SuccessfulCreate", "marker-statefulset",
			func(ev *corev1.Event) {
				ev.InvolvedObject.APIVersion, ev.InvolvedObject.Kind = "apps/v1", "StatefulSet"
			})
		// An event about the tenant's pod without a UID: which pod of that name is unknown.
		e.hostEvent(ctx, t, hp, "Pulled", "marker-no-uid", func(ev *corev1.Event) { ev.InvolvedObject.UID = "" })
		e.expectShownAfter(ctx, t, hp, vp, "marker-own-pod", "marker-other-tenant", "marker-statefulset", "marker-no-uid")
	})

	t.Run("the scheduler's event is shown without the scheduler's host name", func(t *testing.T) {
		// The host profile runs a kube-scheduler; the host has no node, so it reports the pod.
		got := e.waitVirtualEvent(ctx, t, vp, "FailedScheduling", nil)
		host, _ := os.Hostname()
		if got.ReportingController != "default-scheduler" || got.ReportingInstance != "default-scheduler" || got.Action != "Scheduling" || got.EventTime.IsZero() {
			t.Errorf("scheduler event: controller %q instance %q action %q eventTime %v", got.ReportingController, got.ReportingInstance, got.Action, got.EventTime)
		}
		if s := fmt.Sprintf("%+v", got); strings.Contains(s, hostNS) || strings.Contains(s, hp.Name) || (host != "" && strings.Contains(s, host)) {
			t.Errorf("scheduler event shows host names: %s", s)
		}
	})

	t.Run("the host's volume binder's event is shown on the virtual claim", func(t *testing.T) {
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
		vc, err := e.vAdmin.CoreV1().PersistentVolumeClaims("shop").Create(ctx, claim, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The host has no volume and no default class: its binder says so.
		var got *corev1.Event
		eventually(ctx, t, "FailedBinding event on the virtual claim", func(ctx context.Context) (bool, error) {
			list, err := e.vAdmin.CoreV1().Events("shop").List(ctx, metav1.ListOptions{
				FieldSelector: fields.Set{"involvedObject.uid": string(vc.UID), "reason": "FailedBinding"}.String()})
			if err != nil || len(list.Items) == 0 {
				return false, err
			}
			got = &list.Items[0]
			return true, nil
		})
		ref := got.InvolvedObject
		if ref.Kind != "PersistentVolumeClaim" || ref.Name != "data" || ref.Namespace != "shop" || got.Source.Component != "persistentvolume-controller" ||
			!strings.Contains(got.Message, "no persistent volumes available") {
			t.Errorf("virtual claim event %q from %s about %+v", got.Message, got.Source.Component, ref)
		}
	})

	t.Run("a reused name and a restart: no stale event, no duplicate", func(t *testing.T) {
		if _, err := e.vAdmin.CoreV1().Pods("shop").Create(ctx, testPod("shop", "reused"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		old := e.waitHostPod(ctx, t, "shop", "reused", nil)
		// A finalizer keeps the old host pod, and what it records, while the syncer replaces it.
		e.holdHostPod(ctx, t, old.Name, []string{"test.kplex.dev/hold"})
		e.shutdown(t)
		// While the syncer is down, the virtual pod is replaced under the same name, and the
		// host reports about the old host pod, which still records the old virtual pod.
		if err := e.vAdmin.CoreV1().Pods("shop").Delete(ctx, "reused", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		fresh, err := e.vAdmin.CoreV1().Pods("shop").Create(ctx, testPod("shop", "reused"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.hostEvent(ctx, t, old, "Killing", "marker-stale", nil)
		e.bumpHostEvent(ctx, t, backoff.Name, 6)

		e.start()
		e.waitVirtualEvent(ctx, t, vp, "BackOff", func(ev *corev1.Event) bool { return ev.Count == 6 })
		list, err := e.vAdmin.CoreV1().Events("shop").List(ctx, metav1.ListOptions{FieldSelector: fields.Set{"involvedObject.uid": string(vp.UID), "reason": "BackOff"}.String()})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 {
			t.Errorf("%d virtual BackOff events after a restart, want 1", len(list.Items))
		}
		e.expectShownAfter(ctx, t, hp, vp, "marker-stale")

		// Once the new host pod exists, a late event about the old one (same name, old UID)
		// is not about the new pod either.
		e.holdHostPod(ctx, t, old.Name, nil)
		h2 := e.waitHostPod(ctx, t, "shop", "reused", func(p *corev1.Pod) bool { return p.UID != old.UID })
		e.hostEvent(ctx, t, old, "Killing", "marker-earlier-host-pod", nil)
		e.expectShownAfter(ctx, t, h2, fresh, "marker-stale", "marker-earlier-host-pod")
	})
}

// holdHostPod sets the finalizers of a host pod.
func (e *syncEnv) holdHostPod(ctx context.Context, t *testing.T, name string, finalizers []string) {
	t.Helper()
	// The syncer may write the pod meanwhile (its token, its status): read it again then.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := e.hostAdmin.CoreV1().Pods(hostNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Finalizers = finalizers
		_, err = e.hostAdmin.CoreV1().Pods(hostNS).Update(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set finalizers of host pod %s: %v", name, err)
	}
}

// hostEvent creates an event on the host about obj (a host pod), as the kubelet's
// recorder would, after edit.
func (e *syncEnv) hostEvent(ctx context.Context, t *testing.T, obj *corev1.Pod, reason, message string, edit func(*corev1.Event)) *corev1.Event {
	t.Helper()
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: hostNS, Name: fmt.Sprintf("%s.%x", obj.Name, time.Now().UnixNano())},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: hostNS, Name: obj.Name, UID: obj.UID,
			ResourceVersion: obj.ResourceVersion},
		Type: corev1.EventTypeWarning, Reason: reason, Message: message, Count: 1, FirstTimestamp: now, LastTimestamp: now,
		Source: corev1.EventSource{Component: "kubelet", Host: "worker-a"}, ReportingController: "kubelet", ReportingInstance: "worker-a",
	}
	if edit != nil {
		edit(ev)
	}
	got, err := e.hostAdmin.CoreV1().Events(hostNS).Create(ctx, ev, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create host event: %v", err)
	}
	return got
}

// bumpHostEvent raises a host event's count, as a recorder aggregating repeats does.
func (e *syncEnv) bumpHostEvent(ctx context.Context, t *testing.T, name string, count int32) {
	t.Helper()
	ev, err := e.hostAdmin.CoreV1().Events(hostNS).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev.Count, ev.LastTimestamp = count, metav1.NewTime(ev.LastTimestamp.Add(time.Minute))
	if _, err := e.hostAdmin.CoreV1().Events(hostNS).Update(ctx, ev, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update host event: %v", err)
	}
}

// hostPodAs creates a host pod directly, as the host's own controllers or another
// tenant's syncer would.
func (e *syncEnv) hostPodAs(ctx context.Context, t *testing.T, name string, labels, annotations map[string]string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	got, err := e.hostAdmin.CoreV1().Pods(hostNS).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create host pod %s: %v", name, err)
	}
	return got
}

// waitVirtualEvent waits for the virtual event with reason about virtual pod vp that
// meets cond.
func (e *syncEnv) waitVirtualEvent(ctx context.Context, t *testing.T, vp *corev1.Pod, reason string, cond func(*corev1.Event) bool) *corev1.Event {
	t.Helper()
	var got *corev1.Event
	eventually(ctx, t, reason+" event on virtual pod "+vp.Name, func(ctx context.Context) (bool, error) {
		list, err := e.vAdmin.CoreV1().Events(vp.Namespace).List(ctx, metav1.ListOptions{
			FieldSelector: fields.Set{"involvedObject.uid": string(vp.UID), "reason": reason}.String()})
		if err != nil || len(list.Items) == 0 {
			return false, err
		}
		got = &list.Items[0]
		return cond == nil || cond(got), nil
	})
	return got
}

// expectShownAfter records a sentinel event about host pod hp (copy of vp), waits until it
// is shown, and then checks that no virtual event anywhere carries one of the markers
// recorded before it.
func (e *syncEnv) expectShownAfter(ctx context.Context, t *testing.T, hp, vp *corev1.Pod, markers ...string) {
	t.Helper()
	sentinel := fmt.Sprintf("Sentinel%d", time.Now().UnixNano())
	e.hostEvent(ctx, t, hp, sentinel, "sentinel", nil)
	e.waitVirtualEvent(ctx, t, vp, sentinel, nil)
	time.Sleep(time.Second) // the queue has two workers: let an earlier event finish too
	list, err := e.vAdmin.CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range list.Items {
		for _, m := range markers {
			if strings.Contains(ev.Message, m) {
				t.Errorf("virtual event %s/%s shows host event %q about %+v", ev.Namespace, ev.Name, m, ev.InvolvedObject)
			}
		}
	}
}

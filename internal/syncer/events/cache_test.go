package events

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSlim(t *testing.T) {
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: "h", Name: "e", UID: "u", ResourceVersion: "9", Labels: map[string]string{"a": "b"},
			Annotations: map[string]string{"a": "b"}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: "p"},
		Reason:         "Unhealthy", Message: strings.Repeat("probe output ", 1000), Count: 3,
		Related: &corev1.ObjectReference{Name: "other"},
	}
	s, _ := slim(ev)
	got := s.(*corev1.Event)
	if got.Labels != nil || got.Annotations != nil || got.ManagedFields != nil || got.Related != nil ||
		got.Name != "e" || got.ResourceVersion != "9" || got.Reason != "Unhealthy" || got.Count != 3 {
		t.Errorf("slim kept %+v", got)
	}
	if len(got.Message) > cachedMessage || ev.Message[len(got.Message)] != ' ' {
		t.Errorf("message of %d bytes cut to %d, ending %q: want at most %d, on a word", len(ev.Message), len(got.Message), got.Message[len(got.Message)-10:], cachedMessage)
	}
	ev.InvolvedObject = corev1.ObjectReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "kplex"}
	s, _ = slim(ev)
	if got := s.(*corev1.Event); got.Message != "" || got.Reason != "" {
		t.Errorf("an event about a kind never synced kept %q %q", got.Reason, got.Message)
	}
}

package pods

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestPending(t *testing.T) {
	p := newPending()
	key := types.NamespacedName{Namespace: "shop", Name: "web"}
	now := time.Now()
	if p.pod(key, "u1", now) > 0 || p.token(key, "u1", now) > 0 {
		t.Fatal("nothing written yet, yet counted as pending")
	}
	p.podCreated(key, "u1", now)
	p.tokenWritten(key, "u1", now)
	if got := p.pod(key, "u1", now.Add(time.Second)); got != pendingTTL-time.Second {
		t.Errorf("pod pending for %s, want %s", got, pendingTTL-time.Second)
	}
	if p.pod(key, "u2", now) > 0 || p.token(key, "u2", now) > 0 {
		t.Error("a new pod of the same name inherits the old pod's writes")
	}
	if p.pod(key, "u1", now.Add(pendingTTL)) > 0 {
		t.Error("still pending after pendingTTL: a pod deleted before the cache saw it would never come back")
	}
	p.seenPod(key)
	if p.pod(key, "u1", now) > 0 || p.token(key, "u1", now) <= 0 {
		t.Error("seenPod must forget the pod only")
	}
	p.seenToken(key)
	if len(p.m) != 0 {
		t.Errorf("entries left after both were seen: %v", p.m)
	}
	p.podBound(key, "u1", now)
	if p.binding(key, "u1", now) <= 0 || p.binding(key, "u2", now) > 0 || p.pod(key, "u1", now) > 0 {
		t.Error("a binding must count for its own pod only, and as a binding only")
	}
	p.seenBinding(key)
	if len(p.m) != 0 {
		t.Errorf("entries left after the binding was seen: %v", p.m)
	}
	p.podCreated(key, "u1", now)
	p.forget(key)
	if len(p.m) != 0 {
		t.Error("forget left the entry")
	}
}

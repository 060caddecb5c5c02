package pods

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// pendingTTL bounds how long a write of this syncer is trusted while the host cache does
// not show it. Within it, a reconcile that finds no host pod (or token) does not write
// again: the watch event of the object just made brings the pod back. After it, the
// reconcile writes again, so an object deleted before the cache ever saw it is put back
// at the latest pendingTTL later. On a machine loaded to a 9 load average on 2 cores,
// host watch events came more than 15 s late.
const pendingTTL = time.Minute

// pending records the host pods and token Secrets this syncer created that its host
// cache may not show yet, and the virtual bindings its virtual cache may not show yet,
// per virtual pod. Without it, every event that arrives while a pod is being created
// (its token Secret's, its own status update's) starts a reconcile
// that misses the new objects in the cache and creates them again: a failed request
// each (AlreadyExists) and a retry, measured as a quarter more host pod creations than
// pods under load.
type pending struct {
	mu sync.Mutex
	m  map[types.NamespacedName]pendingWrites
}

type pendingWrites struct {
	uid               types.UID // the virtual pod's
	pod, token, bound time.Time // when the host pod, the token Secret and the virtual binding were written (zero: not)
}

func newPending() *pending { return &pending{m: map[types.NamespacedName]pendingWrites{}} }

// podCreated records that the host pod of virtual pod key (uid) was created now.
func (p *pending) podCreated(key types.NamespacedName, uid types.UID, now time.Time) {
	p.update(key, uid, func(w *pendingWrites) { w.pod = now })
}

// tokenWritten records that the token Secret of key (uid) was created or renewed now.
func (p *pending) tokenWritten(key types.NamespacedName, uid types.UID, now time.Time) {
	p.update(key, uid, func(w *pendingWrites) { w.token = now })
}

// podBound records that virtual pod key (uid) was bound to its host pod's node now.
func (p *pending) podBound(key types.NamespacedName, uid types.UID, now time.Time) {
	p.update(key, uid, func(w *pendingWrites) { w.bound = now })
}

func (p *pending) update(key types.NamespacedName, uid types.UID, f func(*pendingWrites)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.m[key]
	if w.uid != uid {
		w = pendingWrites{uid: uid}
	}
	f(&w)
	p.m[key] = w
}

// pod reports for how much longer the host pod of key (uid) counts as just created
// (zero or less: not).
func (p *pending) pod(key types.NamespacedName, uid types.UID, now time.Time) time.Duration {
	return p.left(key, uid, now, podWrite)
}

// token reports for how much longer the token Secret of key (uid) counts as just written
// (zero or less: not).
func (p *pending) token(key types.NamespacedName, uid types.UID, now time.Time) time.Duration {
	return p.left(key, uid, now, tokenWrite)
}

// binding reports for how much longer the binding of key (uid) counts as just made.
func (p *pending) binding(key types.NamespacedName, uid types.UID, now time.Time) time.Duration {
	return p.left(key, uid, now, bindWrite)
}

// seenPod forgets the host pod of key: the cache shows it (or the pod is gone).
func (p *pending) seenPod(key types.NamespacedName) { p.seen(key, podWrite) }

// seenToken forgets the token Secret of key: the cache shows it.
func (p *pending) seenToken(key types.NamespacedName) { p.seen(key, tokenWrite) }

// seenBinding forgets the binding of key: the virtual cache shows the pod bound.
func (p *pending) seenBinding(key types.NamespacedName) { p.seen(key, bindWrite) }

// podWrite, tokenWrite and bindWrite pick one of the writes recorded for a virtual pod.
func podWrite(w *pendingWrites) *time.Time   { return &w.pod }
func tokenWrite(w *pendingWrites) *time.Time { return &w.token }
func bindWrite(w *pendingWrites) *time.Time  { return &w.bound }

func (p *pending) left(key types.NamespacedName, uid types.UID, now time.Time, write func(*pendingWrites) *time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	w, ok := p.m[key]
	if !ok || w.uid != uid || write(&w).IsZero() {
		return 0
	}
	return pendingTTL - now.Sub(*write(&w))
}

func (p *pending) seen(key types.NamespacedName, write func(*pendingWrites) *time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.m[key]; ok {
		*write(&w) = time.Time{}
		p.put(key, w)
	}
}

// forget drops everything recorded for key (the virtual pod is gone).
func (p *pending) forget(key types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, key)
}

func (p *pending) put(key types.NamespacedName, w pendingWrites) {
	if w.pod.IsZero() && w.token.IsZero() && w.bound.IsZero() {
		delete(p.m, key)
		return
	}
	p.m[key] = w
}

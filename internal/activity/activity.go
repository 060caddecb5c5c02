// Package activity tells when a virtual cluster was last used by a person or by one of the
// tenant's own controllers. kplex's own components, the in-process controllers and health
// probes do not count: a cluster nobody uses must be able to fall asleep even though kplex
// keeps talking to it.
package activity

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// ComponentsGroup is the group of kplex's own client certificates in the virtual cluster
// (the syncer, the DNS, the kubelet proxy): their requests are never activity.
const ComponentsGroup = "kplex:components"

// Tracker records the time of the last request that counts. The zero value is ready.
type Tracker struct {
	last atomic.Int64 // Unix nanoseconds; 0: none yet
}

// Last is the time of the last request that counted (zero: none since the start).
func (t *Tracker) Last() time.Time {
	if n := t.last.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Touch records activity at now, unless a later time is already recorded.
func (t *Tracker) Touch(now time.Time) {
	n := now.UnixNano()
	for {
		cur := t.last.Load()
		if cur >= n || t.last.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Wrap records every request that Counts. It must run after authentication (inside the
// API server's handler chain), where the request's user is known.
func (t *Tracker) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := request.UserFrom(r.Context()); ok && Counts(u, r.URL.Path) {
			t.Touch(time.Now())
		}
		next.ServeHTTP(w, r)
	})
}

// Counts reports whether a request by u for path is activity: it comes from a person or
// from a service account of the tenant's own workloads, and is not a health probe.
func Counts(u user.Info, path string) bool {
	if u == nil || isProbe(path) {
		return false
	}
	for _, g := range u.GetGroups() {
		if g == ComponentsGroup || g == user.AllUnauthenticated {
			return false
		}
	}
	name := u.GetName()
	if sa, ok := strings.CutPrefix(name, "system:serviceaccount:"); ok {
		// kube-system's service accounts are the in-process controller-manager's
		// controllers (one per controller); every other namespace is the tenant's.
		ns, _, _ := strings.Cut(sa, ":")
		return ns != "kube-system"
	}
	// system:apiserver (loopback), system:kube-controller-manager, system:kube-scheduler,
	// system:anonymous, nodes: the machinery, not the tenant.
	return !strings.HasPrefix(name, "system:")
}

func isProbe(path string) bool {
	for _, p := range []string{"/healthz", "/readyz", "/livez", "/metrics", "/version"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

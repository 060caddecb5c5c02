package activity

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
)

func TestCounts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		user  user.Info
		path  string
		count bool
	}{
		{"the tenant's admin", &user.DefaultInfo{Name: "admin", Groups: []string{"system:masters", user.AllAuthenticated}}, "/api/v1/pods", true},
		{"a person's kubectl get nodes", &user.DefaultInfo{Name: "alice"}, "/api/v1/nodes", true},
		{"the tenant's own controller", &user.DefaultInfo{Name: "system:serviceaccount:shop:operator"}, "/apis/apps/v1/deployments", true},
		{"the syncer", &user.DefaultInfo{Name: "kplex:syncer", Groups: []string{ComponentsGroup}}, "/api/v1/pods", false},
		{"a controller-manager controller", &user.DefaultInfo{Name: "system:serviceaccount:kube-system:replicaset-controller"}, "/apis/apps/v1/replicasets", false},
		{"the controller-manager", &user.DefaultInfo{Name: "system:kube-controller-manager"}, "/api/v1/namespaces", false},
		{"the API server's loopback", &user.DefaultInfo{Name: "system:apiserver", Groups: []string{"system:masters"}}, "/api/v1/services", false},
		{"an anonymous probe", &user.DefaultInfo{Name: "system:anonymous", Groups: []string{user.AllUnauthenticated}}, "/readyz", false},
		{"the admin's health check", &user.DefaultInfo{Name: "admin"}, "/readyz/etcd", false},
		{"the admin's /livez", &user.DefaultInfo{Name: "admin"}, "/livez", false},
		{"a path that only starts like a probe", &user.DefaultInfo{Name: "admin"}, "/healthzz", true},
		{"no user", nil, "/api", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Counts(tc.user, tc.path); got != tc.count {
				t.Errorf("Counts = %v, want %v", got, tc.count)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	var tr Tracker
	served := 0
	h := tr.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served++ }))
	do := func(u user.Info, path string) {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if u != nil {
			r = r.WithContext(request.WithUser(r.Context(), u))
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	do(&user.DefaultInfo{Name: "kplex:syncer", Groups: []string{ComponentsGroup}}, "/api/v1/pods")
	do(nil, "/api/v1/pods")
	if !tr.Last().IsZero() || served != 2 {
		t.Fatalf("after kplex's own requests: last %v, served %d; want no activity, both served", tr.Last(), served)
	}
	before := time.Now()
	do(&user.DefaultInfo{Name: "alice"}, "/api/v1/pods")
	if tr.Last().Before(before) {
		t.Fatalf("after alice's request: last %v, want at or after %v", tr.Last(), before)
	}
	later := tr.Last().Add(time.Hour)
	tr.Touch(later)
	tr.Touch(later.Add(-time.Minute)) // late reports never move it back
	if !tr.Last().Equal(later) {
		t.Fatalf("last %v, want %v", tr.Last(), later)
	}
}

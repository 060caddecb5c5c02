package host

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

func TestExplain(t *testing.T) {
	h := &Host{Config: &rest.Config{Host: "https://10.0.0.1:6443"}, Context: "dev", Files: []string{"/k/config"}}
	refused := &url.Error{Op: "Get", URL: "https://10.0.0.1:6443/apis", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"no CRD", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "kplex.dev", Kind: "VirtualCluster"}},
			[]string{"kplex is not installed", "https://10.0.0.1:6443", "run kplex install"}},
		{"forbidden", apierrors.NewForbidden(schema.GroupResource{Group: "kplex.dev", Resource: "virtualclusters"}, "", errors.New(`User "dev" cannot list resource "virtualclusters"`)),
			[]string{"not allowed on host https://10.0.0.1:6443 (context dev)", `cannot list resource "virtualclusters"`, "ask a host admin"}},
		{"unauthorized", apierrors.NewUnauthorized("bad token"), []string{"rejected the credentials of context dev", "/k/config"}},
		{"refused", refused, []string{"cannot reach the host API server https://10.0.0.1:6443 (context dev)", "connection refused", "--kubeconfig/--context"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := h.Explain(tc.err).Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q does not say %q", got, w)
				}
			}
		})
	}
	if !errors.Is(h.Explain(&meta.NoKindMatchError{}), ErrNotInstalled) {
		t.Error("not installed is not ErrNotInstalled")
	}
	other := apierrors.NewConflict(schema.GroupResource{}, "x", errors.New("c"))
	if h.Explain(other) != other {
		t.Error("an unrelated API error was rewritten")
	}
	if h.Explain(nil) != nil {
		t.Error("nil")
	}
}

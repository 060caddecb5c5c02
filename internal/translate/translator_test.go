package translate

import (
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		tenant  Tenant
		wantErr string
	}{
		{Tenant{Name: "tenant-a", HostNamespace: "kplex-tenant-a"}, ""},
		{Tenant{Name: "", HostNamespace: "kplex-x"}, "invalid tenant name"},
		{Tenant{Name: "Tenant", HostNamespace: "kplex-x"}, "invalid tenant name"},
		{Tenant{Name: "a.b", HostNamespace: "kplex-x"}, "invalid tenant name"},
		{Tenant{Name: strings.Repeat("a", 64), HostNamespace: "kplex-x"}, "invalid tenant name"},
		{Tenant{Name: "a", HostNamespace: ""}, "invalid host namespace"},
		{Tenant{Name: "a", HostNamespace: "kplex_a"}, "invalid host namespace"},
	} {
		tr, err := New(tc.tenant)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("New(%+v): %v", tc.tenant, err)
		case tc.wantErr == "" && tr.Tenant() != tc.tenant:
			t.Errorf("New(%+v).Tenant() = %+v", tc.tenant, tr.Tenant())
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("New(%+v) error = %v, want %q", tc.tenant, err, tc.wantErr)
		}
	}
}

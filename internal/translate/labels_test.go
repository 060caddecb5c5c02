package translate

import (
	"maps"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestHostLabels(t *testing.T) {
	tr := mustNew(t, tenantA)
	conf := map[string]string{LabelManagedBy: "tenant-a", LabelTenant: "tenant-a", LabelVirtualNamespace: "shop"}
	with := func(m map[string]string) map[string]string {
		out := maps.Clone(conf)
		maps.Copy(out, m)
		return out
	}
	long := longPrefix('p') + "/n"
	for _, tc := range []struct {
		name    string
		virtual map[string]string
		want    map[string]string
	}{
		{"none", nil, conf},
		{"plain", map[string]string{"app": "web", "tier": ""},
			with(map[string]string{"vl.kplex.dev/app": "web", "vl.kplex.dev/tier": ""})},
		{"prefixed", map[string]string{"app.kubernetes.io/name": "web"},
			with(map[string]string{"app.kubernetes.io.vl.kplex.dev/name": "web"})},
		{"forged kplex labels are escaped", map[string]string{
			LabelManagedBy: "tenant-b", LabelTenant: "tenant-b", LabelVirtualNamespace: "other",
			"vl.kplex.dev/app": "x", "vlh.kplex.dev/abc": "y",
		}, with(map[string]string{
			"kplex.dev.vl.kplex.dev/managed-by":        "tenant-b",
			"kplex.dev.vl.kplex.dev/tenant":            "tenant-b",
			"kplex.dev.vl.kplex.dev/virtual-namespace": "other",
			"vl.kplex.dev.vl.kplex.dev/app":            "x",
			"vlh.kplex.dev.vl.kplex.dev/abc":           "y",
		})},
		{"host-meaningful keys lose their meaning", map[string]string{"kubernetes.io/metadata.name": "kube-system"},
			with(map[string]string{"kubernetes.io.vl.kplex.dev/metadata.name": "kube-system"})},
		{"long prefix is hashed", map[string]string{long: "v"},
			with(map[string]string{hostLabelKey(long): "v"})},
		{"invalid entries dropped", map[string]string{"bad key": "v", "k": "bad value", "ok": "v"},
			with(map[string]string{"vl.kplex.dev/ok": "v"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tr.HostLabels("shop", tc.virtual)
			if !maps.Equal(got, tc.want) {
				t.Errorf("HostLabels = %v, want %v", got, tc.want)
			}
			checkHostLabels(t, tr, "shop", tc.virtual)
		})
	}
	if k := hostLabelKey(long); !strings.HasPrefix(k, hashedKeyDomain+"/") {
		t.Errorf("hostLabelKey(long) = %q, want under %s", k, hashedKeyDomain)
	}
	if a, b := hostLabelKey(longPrefix('p')+"/n"), hostLabelKey(longPrefix('q')+"/n"); a == b {
		t.Errorf("two long keys share host key %q", a)
	}
}

func TestNamespaceLabelValue(t *testing.T) {
	for ns, want := range map[string]string{"": "", "shop": "shop", "a-1": "a-1"} {
		if got := namespaceLabelValue(ns); got != want {
			t.Errorf("namespaceLabelValue(%q) = %q, want %q", ns, got, want)
		}
	}
	for _, ns := range []string{"Shop", "a_b", "a.b", strings.Repeat("n", 64), "h_x"} {
		got := namespaceLabelValue(ns)
		if !strings.HasPrefix(got, "h_") || len(validation.IsValidLabelValue(got)) > 0 {
			t.Errorf("namespaceLabelValue(%q) = %q, want a valid h_ hash", ns, got)
		}
	}
}

func TestVirtualLabels(t *testing.T) {
	host := map[string]string{
		LabelManagedBy:                      "tenant-a",
		"vl.kplex.dev/app":                  "web",
		"example.com.vl.kplex.dev/team":     "x",
		"kplex.dev.vl.kplex.dev/managed-by": "forged",
		"vlh.kplex.dev/abc":                 "lost",
		"app":                               "foreign",
		".vl.kplex.dev/empty-prefix":        "junk",
	}
	want := map[string]string{"app": "web", "example.com/team": "x", LabelManagedBy: "forged"}
	if got := VirtualLabels(host); !maps.Equal(got, want) {
		t.Errorf("VirtualLabels = %v, want %v", got, want)
	}
	if got := VirtualLabels(map[string]string{LabelManagedBy: "tenant-a"}); got != nil {
		t.Errorf("VirtualLabels(kplex only) = %v, want nil", got)
	}
}

// checkHostLabels asserts what holds for every HostLabels result: valid,
// confined to tenant and namespace, one host label per valid virtual label,
// and reversible except for hashed keys.
func checkHostLabels(tb testing.TB, tr *Translator, ns string, virtual map[string]string) map[string]string {
	tb.Helper()
	host := tr.HostLabels(ns, virtual)
	for k, v := range host {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			tb.Fatalf("HostLabels(%q, %q): invalid key %q: %v", ns, virtual, k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			tb.Fatalf("HostLabels(%q, %q): invalid value %q=%q: %v", ns, virtual, k, v, errs)
		}
	}
	if host[LabelManagedBy] != tr.tenant.Name || host[LabelTenant] != tr.tenant.Name ||
		host[LabelVirtualNamespace] != namespaceLabelValue(ns) {
		tb.Fatalf("HostLabels(%q, %q) = %v: confinement labels wrong", ns, virtual, host)
	}
	valid := validLabels(virtual)
	if len(host) != len(valid)+3 {
		tb.Fatalf("HostLabels(%q, %q) = %v: %d labels, want %d", ns, virtual, host, len(host), len(valid)+3)
	}
	want := map[string]string{}
	for k, v := range valid {
		if !strings.HasPrefix(hostLabelKey(k), hashedKeyDomain+"/") {
			want[k] = v
		}
	}
	if got := VirtualLabels(host); !maps.Equal(got, want) {
		tb.Fatalf("VirtualLabels(HostLabels(%q, %q)) = %v, want %v", ns, virtual, got, want)
	}
	return host
}

func FuzzHostLabels(f *testing.F) {
	for _, s := range [][2]string{
		{"shop", "app=web\ntier=frontend"},
		{"shop", "kplex.dev/managed-by=tenant-b\nkplex.dev/tenant=tenant-b\nkplex.dev/virtual-namespace=other"},
		{"shop", "vl.kplex.dev/app=web\napp=web"},
		{"", "example.com/a=1\nexample.com.vl.kplex.dev/a=2"},
		{"Bad NS", "bad key=v\nk=bad value\n=\n/=x"},
		{"shop", longPrefix('a') + "/n=v\n" + longPrefix('b') + "/n=v"},
		{"shop", strings.Repeat("a", 240) + "/n=v"},
	} {
		f.Add(s[0], s[1])
	}
	a, b := mustNew(f, tenantA), mustNew(f, tenantB)
	f.Fuzz(func(t *testing.T, ns, spec string) {
		virtual := parseLabels(spec)
		checkHostLabels(t, a, ns, virtual)
		if hb := checkHostLabels(t, b, ns, virtual); hb[LabelManagedBy] != "tenant-b" {
			t.Fatalf("tenant-b's labels claim %q", hb[LabelManagedBy])
		}
	})
}

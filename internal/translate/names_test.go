package translate

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Golden names: the scheme is part of the on-host format, changing it renames
// every host object. Update these only together with a migration.
func TestHostNameGolden(t *testing.T) {
	a, b := mustNew(t, tenantA), mustNew(t, tenantB)
	for _, tc := range []struct{ ns, name, wantA, wantB string }{
		{"shop", "web-0", "web-0-shop-4z3ryswh04", "web-0-shop-twdfbxy604"},
		{"default", "web-7d9f8b6c5-x2x4z", "web-7d9f8b6c5-x2x4z-default-4z3ryswh07", "web-7d9f8b6c5-x2x4z-default-twdfbxy607"},
		{"shop", "kube-root-ca.crt", "kube-root-ca-crt-shop-6vn4qfhmijgdfjcg", "kube-root-ca-crt-shop-hqtuovylherwxxl7"},
		{"", "cluster-thing", "cluster-thing-fpahwjloagopv4ly", "cluster-thing-gb4uzm3erktukh3b"},
		{"1", "2", "x-hhuseuja4xwocryu", "x-r5vthektms4bhngh"},
	} {
		if got := a.HostName(tc.ns, tc.name); got != tc.wantA {
			t.Errorf("tenant-a HostName(%q, %q) = %q, want %q", tc.ns, tc.name, got, tc.wantA)
		}
		if got := b.HostName(tc.ns, tc.name); got != tc.wantB {
			t.Errorf("tenant-b HostName(%q, %q) = %q, want %q", tc.ns, tc.name, got, tc.wantB)
		}
	}
}

func TestHostNameForms(t *testing.T) {
	tr := mustNew(t, tenantA)
	long := strings.Repeat("a", 40)
	for _, tc := range []struct {
		ns, name string
		readable bool
	}{
		{"default", "nginx", true},
		{"a", "b", true},
		{"ns", "a--b", true},
		{strings.Repeat("n", 20), strings.Repeat("a", 31), true}, // 31+1+20+1+10 = 63
		{strings.Repeat("n", 20), strings.Repeat("a", 32), false},
		{"default", "kube-root-ca.crt", false}, // dot
		{"default", "Nginx", false},            // uppercase: not a DNS name
		{"default", "0-config", false},         // DNS-1035 starts with a letter
		{"default", "nginx-", false},
		{"", "nginx", false},             // cluster-scoped
		{"Default", "nginx", false},      // not a namespace name
		{"default", long + long, false},  // too long
		{"default", "", false},           // no name
		{"ns\x00", "nginx\u00e9", false}, // garbage is still named
	} {
		got := tr.HostName(tc.ns, tc.name)
		checkHostName(t, tr, tc.ns, tc.name)
		if isReadable := len(lastSegment(got)) == tagLength+2; isReadable != tc.readable {
			t.Errorf("HostName(%q, %q) = %q, readable form %v, want %v", tc.ns, tc.name, got, isReadable, tc.readable)
		}
	}
}

// The "name-x-namespace-x-tenant" family of schemes merges these pairs.
func TestHostNameSeparatorAmbiguity(t *testing.T) {
	tr := mustNew(t, tenantA)
	pairs := [][2]string{
		{"c", "a-x-b"}, {"b-x-c", "a"}, {"x-c", "a-b"}, {"c", "a-b-x"},
		{"b-c", "a"}, {"c", "a-b"}, {"x-b", "a"}, {"b", "a-x"},
		{"ab", "c"}, {"b", "ac"}, {"", "a-b"}, {"a", "b"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		h := tr.HostName(p[0], p[1])
		if prev, dup := seen[h]; dup {
			t.Errorf("HostName(%q, %q) = HostName(%q, %q) = %q", p[0], p[1], prev[0], prev[1], h)
		}
		seen[h] = p
	}
}

// checkHostName asserts the properties every host name has.
func checkHostName(tb testing.TB, tr *Translator, ns, name string) string {
	tb.Helper()
	h := tr.HostName(ns, name)
	if errs := validation.IsDNS1035Label(h); len(errs) > 0 {
		tb.Fatalf("HostName(%q, %q) = %q: not a DNS-1035 label: %v", ns, name, h, errs)
	}
	if errs := validation.IsDNS1123Label(h); len(errs) > 0 {
		tb.Fatalf("HostName(%q, %q) = %q: not a DNS-1123 label: %v", ns, name, h, errs)
	}
	if again := tr.HostName(ns, name); again != h {
		tb.Fatalf("HostName(%q, %q) not deterministic: %q then %q", ns, name, h, again)
	}
	switch len(lastSegment(h)) {
	case tagLength + 2:
		gotNS, gotName, ok := decodeReadable(tr, h)
		if !ok || gotNS != ns || gotName != name {
			tb.Fatalf("HostName(%q, %q) = %q decodes to (%q, %q, %v)", ns, name, h, gotNS, gotName, ok)
		}
	case hashLength:
	default:
		tb.Fatalf("HostName(%q, %q) = %q: last segment is neither a tag nor a hash", ns, name, h)
	}
	return h
}

func FuzzHostName(f *testing.F) {
	for _, s := range [][2]string{
		{"default", "nginx"}, {"", "node-1"}, {"kube-system", "kube-root-ca.crt"},
		{"a-x-b", "c-x-d"}, {strings.Repeat("n", 63), strings.Repeat("a", 253)},
		{"ns", "UPPER.case_and spaces"}, {"9ns", "9name"}, {"-", "-"}, {"ns", "\xff\xfe"},
	} {
		f.Add(s[0], s[1])
	}
	a, b := mustNew(f, tenantA), mustNew(f, tenantB)
	f.Fuzz(func(t *testing.T, ns, name string) {
		ha := checkHostName(t, a, ns, name)
		hb := checkHostName(t, b, ns, name)
		if ha == hb {
			t.Fatalf("tenants a and b share host name %q for (%q, %q)", ha, ns, name)
		}
	})
}

func FuzzHostNameInjective(f *testing.F) {
	for _, s := range [][4]string{
		{"c", "a-x-b", "b-x-c", "a"},
		{"b-c", "a", "c", "a-b"},
		{"ns", "name", "ns", "name"},
		{"", "a-b", "a", "b"},
		{"shop", "kube-root-ca.crt", "shop", "kube-root-ca-crt"},
		{"shop", "Web", "shop", "web"},
		{strings.Repeat("n", 30), strings.Repeat("a", 40) + "b", strings.Repeat("n", 30), strings.Repeat("a", 40) + "c"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	a, b := mustNew(f, tenantA), mustNew(f, tenantB)
	f.Fuzz(func(t *testing.T, ns1, name1, ns2, name2 string) {
		same := ns1 == ns2 && name1 == name2
		if h1, h2 := a.HostName(ns1, name1), a.HostName(ns2, name2); (h1 == h2) != same {
			t.Fatalf("HostName(%q, %q) = %q, HostName(%q, %q) = %q", ns1, name1, h1, ns2, name2, h2)
		}
		if h1, h2 := a.HostName(ns1, name1), b.HostName(ns2, name2); h1 == h2 {
			t.Fatalf("tenant-a (%q, %q) and tenant-b (%q, %q) share host name %q", ns1, name1, ns2, name2, h1)
		}
	})
}

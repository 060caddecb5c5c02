package translate

import (
	"maps"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// pod is a virtual pod for selector tests.
type pod struct {
	ns     string
	labels map[string]string
}

func TestHostSelector(t *testing.T) {
	a, b := mustNew(t, tenantA), mustNew(t, tenantB)
	pods := map[string]pod{
		"web":      {"shop", map[string]string{"app": "web", "tier": "front"}},
		"db":       {"shop", map[string]string{"app": "db"}},
		"bare":     {"shop", nil},
		"claims":   {"shop", map[string]string{LabelManagedBy: "tenant-a"}}, // a tenant label, not ours
		"other-ns": {"blog", map[string]string{"app": "web", "tier": "front"}},
		"forger": {"blog", map[string]string{ // tries to pass for a pod of shop
			"app": "web", LabelVirtualNamespace: "shop", LabelManagedBy: "tenant-a",
		}},
	}
	// Host copies: tenant-a's pods, and tenant-b's copies of the same pods.
	var host []labelledPod
	for name, p := range pods {
		host = append(host, labelledPod{name, labels.Set(a.HostLabels(p.ns, p.labels))})
		host = append(host, labelledPod{"b/" + name, labels.Set(b.HostLabels(p.ns, p.labels))})
	}
	host = append(host, labelledPod{"unmanaged", labels.Set{"app": "web", LabelVirtualNamespace: "shop"}})

	req := func(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
		return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
	}
	for _, tc := range []struct {
		name string
		sel  *metav1.LabelSelector
		want []string // tenant-a's pods of shop
	}{
		{"nil selects nothing", nil, nil},
		{"empty selects the namespace", &metav1.LabelSelector{}, []string{"bare", "claims", "db", "web"}},
		{"matchLabels", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, []string{"web"}},
		{"In", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			req("app", metav1.LabelSelectorOpIn, "web", "db")}}, []string{"db", "web"}},
		{"NotIn", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			req("app", metav1.LabelSelectorOpNotIn, "web")}}, []string{"bare", "claims", "db"}},
		{"Exists", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			req("tier", metav1.LabelSelectorOpExists)}}, []string{"web"}},
		{"DoesNotExist", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			req("tier", metav1.LabelSelectorOpDoesNotExist)}}, []string{"bare", "claims", "db"}},
		{"selecting on kplex keys selects tenant labels", &metav1.LabelSelector{
			MatchLabels: map[string]string{LabelManagedBy: "tenant-a"}}, []string{"claims"}},
		{"mixed", &metav1.LabelSelector{
			MatchLabels:      map[string]string{"app": "web"},
			MatchExpressions: []metav1.LabelSelectorRequirement{req("tier", metav1.LabelSelectorOpNotIn, "back")},
		}, []string{"web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs, err := a.HostSelector("shop", tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			if got := selected(t, hs, host); !slices.Equal(got, tc.want) {
				t.Errorf("host selector %v selects %v, want %v", hs, got, tc.want)
			}
		})
	}
}

func TestHostSelectorInvalid(t *testing.T) {
	tr := mustNew(t, tenantA)
	for name, sel := range map[string]*metav1.LabelSelector{
		"bad operator":  {MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Gt", Values: []string{"1"}}}},
		"In no values":  {MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: metav1.LabelSelectorOpIn}}},
		"Exists values": {MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: metav1.LabelSelectorOpExists, Values: []string{"x"}}}},
		"bad key":       {MatchLabels: map[string]string{"bad key": "x"}},
		"bad value":     {MatchLabels: map[string]string{"a": "bad value"}},
	} {
		if hs, err := tr.HostSelector("shop", sel); err == nil || !strings.Contains(err.Error(), `namespace "shop"`) {
			t.Errorf("%s: HostSelector = %v, %v; want an error naming the namespace", name, hs, err)
		}
	}
}

func TestHostSelectorMap(t *testing.T) {
	tr := mustNew(t, tenantA)
	if got, err := tr.HostSelectorMap("shop", nil); got != nil || err != nil {
		t.Errorf("HostSelectorMap(nil) = %v, %v; want nil: no selector stays no selector", got, err)
	}
	got, err := tr.HostSelectorMap("shop", map[string]string{"app": "web"})
	if want := tr.HostLabels("shop", map[string]string{"app": "web"}); err != nil || !maps.Equal(got, want) {
		t.Errorf("HostSelectorMap = %v, %v; want %v", got, err, want)
	}
	if _, err := tr.HostSelectorMap("shop", map[string]string{"app": "bad value"}); err == nil {
		t.Error("HostSelectorMap accepted an invalid value")
	}
}

// byteReader hands out the fuzzer's bytes, zero when exhausted.
type byteReader []byte

func (r *byteReader) next() int {
	if len(*r) == 0 {
		return 0
	}
	c := (*r)[0]
	*r = (*r)[1:]
	return int(c)
}

func FuzzHostSelector(f *testing.F) {
	// data: label count, (key, value)...; 255 for a nil selector; matchLabels
	// count, (key, value)...; expression count, (key, operator, value count,
	// value...)... Indexes into the pools below: keys 0 app, 1 tier,
	// 4-6 kplex's own, 9-10 long prefixes, 11 invalid, 12 the fuzzer's;
	// values 1 web, 2 db, 7 invalid, 8 the fuzzer's; operators 0 In, 1 NotIn,
	// 2 Exists, 3 DoesNotExist, 4 invalid.
	for _, s := range []struct {
		ns, otherNS string
		data        []byte
		key, value  string
	}{
		{"shop", "blog", []byte{2, 0, 1, 1, 2, 0, 1, 0, 1, 1, 1, 0, 2, 2, 0}, "team", "x"}, // app=web, tier In (db, "")
		{"shop", "shop2", []byte{1, 0, 2, 0, 0, 1, 0, 1, 1, 1}, "team", "x"},               // app NotIn (web)
		{"shop", "blog", []byte{3, 4, 4, 6, 5, 5, 3, 0, 2, 4, 4, 6, 5, 0}, "team", "x"},    // kplex keys as tenant labels
		{"", "shop", []byte{2, 9, 1, 10, 2, 0, 1, 9, 1, 1, 10, 2, 0}, "team", "x"},         // hashed keys
		{"shop", "blog", []byte{2, 11, 7, 0, 1, 0, 0, 1, 0, 0, 1, 7}, "team", "x"},         // invalid value
		{"shop", "blog", []byte{1, 12, 8, 0, 0, 1, 12, 0, 1, 8}, "team", "x"},              // team In (x)
		{"Bad NS", "blog", []byte{1, 12, 8, 0, 1, 12, 8, 0}, "a/b/c", "v v"},               // invalid key
		{"shop", "blog", []byte{1, 0, 1, 0, 0, 1, 1, 3, 0}, "team", "x"},                   // tier DoesNotExist
		{"shop", "blog", []byte{1, 0, 1, 0, 0, 1, 0, 4, 1, 1}, "team", "x"},                // invalid operator
		{"shop", "blog", []byte{1, 0, 1, 255}, "team", "x"},                                // nil selector
		{"shop", "blog", []byte{1, 0, 1, 0, 0, 0}, "team", "x"},                            // empty selector
	} {
		f.Add(s.ns, s.otherNS, s.data, s.key, s.value)
	}
	a, b := mustNew(f, tenantA), mustNew(f, tenantB)
	f.Fuzz(func(t *testing.T, ns, otherNS string, data []byte, extraKey, extraValue string) {
		// Labels and selectors draw keys and values from small pools, so that
		// they share them often enough to match; the fuzzer adds one of each.
		keys := []string{
			"app", "tier", "app.kubernetes.io/name", "example.com/app",
			LabelManagedBy, LabelTenant, LabelVirtualNamespace, "vl.kplex.dev/app", "app.vl.kplex.dev/x",
			longPrefix('a') + "/n", longPrefix('b') + "/n", "bad key", extraKey,
		}
		values := []string{"", "web", "db", "tenant-a", "tenant-b", "shop", "blog", "bad value", extraValue}
		ops := []metav1.LabelSelectorOperator{metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn,
			metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist, "Gt"}
		r := byteReader(data)
		key := func() string { return keys[r.next()%len(keys)] }
		value := func() string { return values[r.next()%len(values)] }

		virtual := map[string]string{}
		for n := r.next() % 6; n > 0; n-- {
			virtual[key()] = value()
		}
		virtual = validLabels(virtual) // what the virtual API server stores

		var sel *metav1.LabelSelector
		if r.next() != 255 {
			sel = &metav1.LabelSelector{}
			for n := r.next() % 3; n > 0; n-- {
				if sel.MatchLabels == nil {
					sel.MatchLabels = map[string]string{}
				}
				sel.MatchLabels[key()] = value()
			}
			for n := r.next() % 4; n > 0; n-- {
				req := metav1.LabelSelectorRequirement{Key: key(), Operator: ops[r.next()%len(ops)]}
				for m := r.next() % 3; m > 0; m-- {
					req.Values = append(req.Values, value())
				}
				sel.MatchExpressions = append(sel.MatchExpressions, req)
			}
		}

		vs, verr := metav1.LabelSelectorAsSelector(sel)
		hsel, herr := a.HostSelector(ns, sel)
		if (verr != nil) != (herr != nil) {
			t.Fatalf("selector %v: virtual error %v, host error %v", sel, verr, herr)
		}
		if verr != nil {
			return
		}
		hs, err := metav1.LabelSelectorAsSelector(hsel)
		if err != nil {
			t.Fatalf("host selector %v of %v is invalid: %v", hsel, sel, err)
		}
		want := vs.Matches(labels.Set(virtual))
		if got := hs.Matches(labels.Set(a.HostLabels(ns, virtual))); got != want {
			t.Fatalf("selector %v on %v: virtual %v, host %v (host selector %v, host labels %v)",
				sel, virtual, want, got, hsel, a.HostLabels(ns, virtual))
		}
		// The same labels elsewhere, and the labels trying to claim this
		// namespace and tenant, never match.
		forged := maps.Clone(virtual)
		maps.Copy(forged, map[string]string{LabelManagedBy: "tenant-a", LabelTenant: "tenant-a", LabelVirtualNamespace: ns})
		forged = validLabels(forged)
		for name, l := range map[string]map[string]string{
			"tenant-b same namespace":        b.HostLabels(ns, virtual),
			"tenant-b forging tenant-a":      b.HostLabels(ns, forged),
			"tenant-a other namespace":       a.HostLabels(otherNS, virtual),
			"tenant-a other namespace forge": a.HostLabels(otherNS, forged),
			"unmanaged host pod":             virtual,
		} {
			if otherNS == ns && strings.HasPrefix(name, "tenant-a other namespace") {
				continue
			}
			if hs.Matches(labels.Set(l)) {
				t.Fatalf("host selector %v (from %v in %q) matches %s: %v", hsel, sel, ns, name, l)
			}
		}
	})
}

func TestHostSelectorAcrossNamespaces(t *testing.T) {
	a, b := mustNew(t, tenantA), mustNew(t, tenantB)
	var host []labelledPod
	for _, ns := range []string{"shop", "blog", "Bad NS", "kube-system"} {
		for _, app := range []string{"web", "db"} {
			l := map[string]string{"app": app}
			host = append(host, labelledPod{ns + "/" + app, labels.Set(a.HostLabels(ns, l))},
				labelledPod{"b:" + ns + "/" + app, labels.Set(b.HostLabels(ns, l))})
		}
	}
	host = append(host, labelledPod{"unmanaged", labels.Set{"app": "web", LabelVirtualNamespace: "shop", LabelTenant: "tenant-a"}})
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	for _, tc := range []struct {
		name string
		sel  func() (*metav1.LabelSelector, error)
		want []string
	}{
		{"no namespace selects nothing", func() (*metav1.LabelSelector, error) { return a.HostSelectorIn(nil, nil) }, nil},
		{"two namespaces, every pod", func() (*metav1.LabelSelector, error) { return a.HostSelectorIn([]string{"shop", "blog", "shop"}, nil) },
			[]string{"blog/db", "blog/web", "shop/db", "shop/web"}},
		{"hashed namespace label", func() (*metav1.LabelSelector, error) { return a.HostSelectorIn([]string{"Bad NS"}, web) }, []string{"Bad NS/web"}},
		{"pod selector within namespaces", func() (*metav1.LabelSelector, error) { return a.HostSelectorIn([]string{"shop", "kube-system"}, web) },
			[]string{"kube-system/web", "shop/web"}},
		{"any namespace", func() (*metav1.LabelSelector, error) { return a.HostSelectorAnyNamespace(web) },
			[]string{"Bad NS/web", "blog/web", "kube-system/web", "shop/web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs, err := tc.sel()
			if err != nil {
				t.Fatal(err)
			}
			if got := selected(t, hs, host); !slices.Equal(got, tc.want) {
				t.Errorf("host selector %v selects %v, want %v", hs, got, tc.want)
			}
		})
	}
	if _, err := a.HostSelectorIn([]string{"shop"}, &metav1.LabelSelector{MatchLabels: map[string]string{"a": "bad value"}}); err == nil {
		t.Error("HostSelectorIn accepted an invalid selector")
	}
}

// labelledPod is a host pod's name and labels, for selector tests.
type labelledPod struct {
	name   string
	labels labels.Set
}

// selected lists, sorted, the names of the pods hs selects.
func selected(t *testing.T, hs *metav1.LabelSelector, pods []labelledPod) []string {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(hs)
	if err != nil {
		t.Fatalf("host selector %v invalid: %v", hs, err)
	}
	var got []string
	for _, p := range pods {
		if s.Matches(p.labels) {
			got = append(got, p.name)
		}
	}
	slices.Sort(got)
	return got
}

package translate

import (
	"maps"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

func TestHostMeta(t *testing.T) {
	tr := mustNew(t, tenantA)
	virtual := &metav1.ObjectMeta{
		Namespace: "shop", Name: "web-0", UID: "uid-1", GenerateName: "web-",
		Labels: map[string]string{"app": "web", LabelManagedBy: "tenant-b"},
		Annotations: map[string]string{
			AnnotationVirtualName:         "db-0", // tries to claim another object
			"k8s.v1.cni.cncf.io/networks": "host-net",
		},
		Finalizers:      []string{"x"},
		OwnerReferences: []metav1.OwnerReference{{Name: "web", UID: "uid-0"}},
		ResourceVersion: "42",
	}
	got := tr.HostMeta(virtual)
	want := metav1.ObjectMeta{
		Name:      tr.HostName("shop", "web-0"),
		Namespace: "kplex-shared",
		Labels:    tr.HostLabels("shop", virtual.Labels),
		Annotations: map[string]string{
			AnnotationVirtualNamespace: "shop",
			AnnotationVirtualName:      "web-0",
			AnnotationVirtualUID:       "uid-1",
		},
	}
	if got.Name != want.Name || got.Namespace != want.Namespace || !maps.Equal(got.Labels, want.Labels) ||
		!maps.Equal(got.Annotations, want.Annotations) || got.GenerateName != "" || got.Finalizers != nil ||
		got.OwnerReferences != nil || got.ResourceVersion != "" || got.UID != "" {
		t.Errorf("HostMeta =\n%+v\nwant\n%+v", got, want)
	}
	if got.Labels[LabelManagedBy] != "tenant-a" {
		t.Errorf("tenant label overrode managed-by: %v", got.Labels)
	}
}

func TestVirtualRef(t *testing.T) {
	a, b := mustNew(t, tenantA), mustNew(t, tenantB)
	virtual := &metav1.ObjectMeta{Namespace: "shop", Name: "web-0", UID: "uid-1", Labels: map[string]string{"app": "web"}}
	good := a.HostMeta(virtual)
	edit := func(f func(m *metav1.ObjectMeta)) *metav1.ObjectMeta {
		m := good.DeepCopy()
		f(m)
		return m
	}
	for _, tc := range []struct {
		name   string
		tr     *Translator
		host   *metav1.ObjectMeta
		owned  bool
		wantOK bool
	}{
		{"own copy", a, &good, true, true},
		{"other tenant's translator", b, &good, false, false},
		{"other host namespace", a, edit(func(m *metav1.ObjectMeta) { m.Namespace = "kplex-other" }), false, false},
		{"no managed-by", a, edit(func(m *metav1.ObjectMeta) { delete(m.Labels, LabelManagedBy) }), false, false},
		{"managed by tenant-b", a, edit(func(m *metav1.ObjectMeta) { m.Labels[LabelManagedBy] = "tenant-b" }), false, false},
		{"no uid annotation", a, edit(func(m *metav1.ObjectMeta) { delete(m.Annotations, AnnotationVirtualUID) }), true, false},
		{"no namespace annotation", a, edit(func(m *metav1.ObjectMeta) { delete(m.Annotations, AnnotationVirtualNamespace) }), true, false},
		{"empty name annotation", a, edit(func(m *metav1.ObjectMeta) { m.Annotations[AnnotationVirtualName] = "" }), true, false},
		{"annotations name another object", a, edit(func(m *metav1.ObjectMeta) { m.Annotations[AnnotationVirtualName] = "db-0" }), true, false},
		{"namespace label disagrees", a, edit(func(m *metav1.ObjectMeta) { m.Labels[LabelVirtualNamespace] = "blog" }), true, false},
		{"renamed", a, edit(func(m *metav1.ObjectMeta) { m.Name = "web-0-shop" }), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tr.IsOwned(tc.host); got != tc.owned {
				t.Errorf("IsOwned = %v, want %v", got, tc.owned)
			}
			// OwnedSelector is for lists and watches of the host namespace.
			inNS := tc.host.Namespace == tc.tr.Tenant().HostNamespace
			if got := inNS && tc.tr.OwnedSelector().Matches(labels.Set(tc.host.Labels)); got != tc.owned {
				t.Errorf("OwnedSelector matches = %v, want %v", got, tc.owned)
			}
			ns, name, uid, ok := tc.tr.VirtualRef(tc.host)
			if ok != tc.wantOK {
				t.Fatalf("VirtualRef = %q, %q, %q, %v; want ok %v", ns, name, uid, ok, tc.wantOK)
			}
			if ok && (ns != "shop" || name != "web-0" || uid != "uid-1") {
				t.Errorf("VirtualRef = %q, %q, %q", ns, name, uid)
			}
			if !ok && (ns != "" || name != "" || uid != "") {
				t.Errorf("VirtualRef not ok but returned %q, %q, %q", ns, name, uid)
			}
		})
	}
}

func FuzzMeta(f *testing.F) {
	for _, s := range [][4]string{
		{"shop", "web-0", "uid-1", "app=web"},
		{"", "cluster-thing", "uid-2", ""},
		{"shop", "kube-root-ca.crt", "", "kplex.dev/managed-by=tenant-b"},
		{"Bad NS", "", "x", "kplex.dev/virtual-namespace=blog"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	a, b := mustNew(f, tenantA), mustNew(f, tenantB)
	f.Fuzz(func(t *testing.T, ns, name, uid, labelSpec string) {
		virtual := &metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), Labels: parseLabels(labelSpec)}
		// The tenant's annotations are never read: try to forge ours.
		virtual.Annotations = map[string]string{
			AnnotationVirtualNamespace: ns + "x", AnnotationVirtualName: name + "x", AnnotationVirtualUID: uid + "x",
		}
		host := a.HostMeta(virtual)
		checkHostName(t, a, ns, name)
		checkHostLabels(t, a, ns, virtual.Labels)
		if !a.IsOwned(&host) || b.IsOwned(&host) {
			t.Fatalf("HostMeta(%+v): owned by a %v, by b %v", virtual, a.IsOwned(&host), b.IsOwned(&host))
		}
		gotNS, gotName, gotUID, ok := a.VirtualRef(&host)
		if wantOK := name != ""; ok != wantOK || ok && (gotNS != ns || gotName != name || gotUID != types.UID(uid)) {
			t.Fatalf("VirtualRef(HostMeta(%q, %q, %q)) = %q, %q, %q, %v", ns, name, uid, gotNS, gotName, gotUID, ok)
		}
		if _, _, _, ok := b.VirtualRef(&host); ok {
			t.Fatalf("tenant-b resolves tenant-a's copy of (%q, %q)", ns, name)
		}
		// Tenant-b's copy of the same object, whatever its labels, is not a's.
		if hb := b.HostMeta(virtual); a.IsOwned(&hb) {
			t.Fatalf("tenant-a owns tenant-b's copy of (%q, %q): %v", ns, name, hb.Labels)
		}
	})
}

package networkpolicies

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kplex-dev/kplex/internal/translate"
)

func translators(tb testing.TB) (a, b *translate.Translator) {
	tb.Helper()
	a, err := translate.New(translate.Tenant{Name: "acme", HostNamespace: "kplex-shared"})
	if err != nil {
		tb.Fatal(err)
	}
	b, err = translate.New(translate.Tenant{Name: "rival", HostNamespace: "kplex-shared"})
	if err != nil {
		tb.Fatal(err)
	}
	return a, b
}

var virtualNamespaces = []corev1.Namespace{
	{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"kubernetes.io/metadata.name": "shop", "team": "red"}}},
	{ObjectMeta: metav1.ObjectMeta{Name: "blog", Labels: map[string]string{"kubernetes.io/metadata.name": "blog", "team": "blue"}}},
	{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", Labels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}}},
}

// hostPods are what a host namespace shared by two tenants holds, besides unmanaged pods.
func hostPods(a, b *translate.Translator) map[string]labels.Set {
	out := map[string]labels.Set{
		"host:web":           {"app": "web"},
		"host:forged":        {"app": "web", translate.LabelVirtualNamespace: "shop", translate.LabelTenant: "acme"},
		"host:control-plane": {"app.kubernetes.io/name": "kplexd"},
	}
	for _, ns := range virtualNamespaces {
		for _, app := range []string{"web", "db"} {
			l := map[string]string{"app": app}
			out[ns.Name+"/"+app] = a.HostLabels(ns.Name, l)
			out["rival:"+ns.Name+"/"+app] = b.HostLabels(ns.Name, l)
		}
	}
	return out
}

func selected(t *testing.T, sel *metav1.LabelSelector, pods map[string]labels.Set) []string {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("host selector %v invalid: %v", sel, err)
	}
	var out []string
	for name, l := range pods {
		if s.Matches(l) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func TestHostPolicySelectors(t *testing.T) {
	a, b := translators(t)
	pods := hostPods(a, b)
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	for _, tc := range []struct {
		name string
		peer networkingv1.NetworkPolicyPeer
		want []string
	}{
		{"pod selector: same namespace only", networkingv1.NetworkPolicyPeer{PodSelector: web}, []string{"shop/web"}},
		{"namespaceSelector {}: every pod of the tenant, never another tenant's or the host's",
			networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{}},
			[]string{"blog/db", "blog/web", "kube-system/db", "kube-system/web", "shop/db", "shop/web"}},
		{"namespace by label and pods", networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "blue"}}, PodSelector: web}, []string{"blog/web"}},
		{"namespace by name", networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}}},
			[]string{"kube-system/db", "kube-system/web"}},
		{"no namespace matches: nothing", networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "green"}}}, nil},
		{"host namespace names mean nothing", networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kplex-shared"}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p"}, Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{tc.peer}}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			}}
			h, err := HostPolicy(a, v, a.HostMeta(v), virtualNamespaces, DeniedCIDRs())
			if err != nil {
				t.Fatal(err)
			}
			if got := selected(t, &h.Spec.PodSelector, pods); !slices.Equal(got, []string{"shop/db", "shop/web"}) {
				t.Errorf("policy applies to %v, want shop's pods", got)
			}
			from := h.Spec.Ingress[0].From
			if len(from) != 1 || from[0].NamespaceSelector != nil || from[0].PodSelector == nil {
				t.Fatalf("host peers %+v, want one pod selector", from)
			}
			if got := selected(t, from[0].PodSelector, pods); !slices.Equal(got, tc.want) {
				t.Errorf("peer selects %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHostPolicyAddresses(t *testing.T) {
	a, b := translators(t)
	pods := hostPods(a, b)
	for _, tc := range []struct {
		name   string
		to     []networkingv1.NetworkPolicyPeer
		blocks []networkingv1.IPBlock
		pods   []string
	}{
		{"public block kept", []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "203.0.113.0/24", Except: []string{"203.0.113.9/32"}}}},
			[]networkingv1.IPBlock{{CIDR: "203.0.113.0/24", Except: []string{"203.0.113.9/32"}}}, nil},
		{"the whole internet loses the host's ranges", []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}},
			[]networkingv1.IPBlock{{CIDR: "0.0.0.0/0", Except: []string{"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
				"172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4"}}}, nil},
		{"metadata address allows nothing", []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "169.254.169.254/32"}}},
			nil, []string{}},
		{"other tenants' pod network allows nothing", []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.244.0.0/16"}}},
			nil, []string{}},
		{"IPv6 unique-local inside a wider block", []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "fc00::/6"}}},
			[]networkingv1.IPBlock{{CIDR: "fc00::/6", Except: []string{"fc00::/7", "fe80::/10", "ff00::/8"}}}, nil},
		{"no peers: the tenant's pods and the public internet", nil, nil,
			[]string{"blog/db", "blog/web", "kube-system/db", "kube-system/web", "shop/db", "shop/web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p"}, Spec: networkingv1.NetworkPolicySpec{
				Egress:      []networkingv1.NetworkPolicyEgressRule{{To: tc.to}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			}}
			h, err := HostPolicy(a, v, a.HostMeta(v), virtualNamespaces, DeniedCIDRs())
			if err != nil {
				t.Fatal(err)
			}
			to := h.Spec.Egress[0].To
			if len(to) == 0 {
				t.Fatal("a rule with no peers means anywhere on the host")
			}
			var blocks []networkingv1.IPBlock
			var sel []string
			for _, p := range to {
				if p.IPBlock != nil {
					blocks = append(blocks, *p.IPBlock)
				}
				if p.PodSelector != nil {
					sel = append(sel, selected(t, p.PodSelector, pods)...)
				}
			}
			if tc.to == nil {
				if len(blocks) != 2 || blocks[0].CIDR != "0.0.0.0/0" || blocks[1].CIDR != "::/0" || len(blocks[0].Except) != 11 || len(blocks[1].Except) != 8 {
					t.Errorf("anywhere blocks = %+v", blocks)
				}
			} else if !equalBlocks(blocks, tc.blocks) {
				t.Errorf("blocks = %+v, want %+v", blocks, tc.blocks)
			}
			if tc.pods != nil && !slices.Equal(append([]string{}, sel...), tc.pods) {
				t.Errorf("pod peers select %v, want %v", sel, tc.pods)
			}
			checkConfined(t, h, a)
		})
	}
}

func equalBlocks(a, b []networkingv1.IPBlock) bool {
	return slices.EqualFunc(a, b, func(x, y networkingv1.IPBlock) bool { return x.CIDR == y.CIDR && slices.Equal(x.Except, y.Except) })
}

// checkConfined asserts what must hold of every host policy: no rule open to anywhere,
// no namespace selector, pod selectors pinned to the tenant, no denied address allowed.
func checkConfined(t *testing.T, h *networkingv1.NetworkPolicy, tr *translate.Translator) {
	t.Helper()
	tenant := tr.Tenant().Name
	pinned := func(s *metav1.LabelSelector) bool {
		return s != nil && s.MatchLabels[translate.LabelManagedBy] == tenant && s.MatchLabels[translate.LabelTenant] == tenant
	}
	if !pinned(&h.Spec.PodSelector) || h.Spec.PodSelector.MatchLabels[translate.LabelVirtualNamespace] == "" {
		t.Errorf("policy pod selector %v not pinned to the tenant and namespace", h.Spec.PodSelector)
	}
	var peers [][]networkingv1.NetworkPolicyPeer
	for _, r := range h.Spec.Ingress {
		peers = append(peers, r.From)
	}
	for _, r := range h.Spec.Egress {
		peers = append(peers, r.To)
	}
	for _, ps := range peers {
		if len(ps) == 0 {
			t.Fatal("rule open to anywhere")
		}
		for _, p := range ps {
			switch {
			case p.NamespaceSelector != nil:
				t.Fatalf("host peer with a namespace selector: %+v", p)
			case p.IPBlock != nil:
				c := netip.MustParsePrefix(p.IPBlock.CIDR).Masked()
				for _, d := range DeniedCIDRs() {
					if d.Addr().Is4() == c.Addr().Is4() && d.Overlaps(c) && !slices.Contains(p.IPBlock.Except, d.String()) {
						t.Fatalf("ipBlock %+v allows denied %s", p.IPBlock, d)
					}
				}
			case !pinned(p.PodSelector):
				t.Fatalf("host peer %+v not pinned to the tenant", p.PodSelector)
			}
		}
	}
}

// FuzzHostPolicy builds policies from the fuzzer's bytes and checks that the host copy is
// always confined and selects, among the host pods of two tenants, exactly the host copies
// of the virtual pods the virtual policy's peers select.
func FuzzHostPolicy(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7}, "10.0.0.0/9")
	f.Add([]byte{3, 3, 1, 0, 2, 2, 5}, "0.0.0.0/1")
	f.Add([]byte{1, 4, 4, 4, 0}, "2001:db8::/32")
	f.Add([]byte{}, "169.254.0.0/15")
	a, b := translators(f)
	pods := hostPods(a, b)
	sels := []*metav1.LabelSelector{
		nil, {}, {MatchLabels: map[string]string{"app": "web"}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"web"}}}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpDoesNotExist}}},
		{MatchLabels: map[string]string{"team": "blue"}},
		{MatchLabels: map[string]string{translate.LabelTenant: "rival"}},
	}
	f.Fuzz(func(t *testing.T, data []byte, cidr string) {
		next := func() int {
			if len(data) == 0 {
				return 0
			}
			c := data[0]
			data = data[1:]
			return int(c)
		}
		var peers []networkingv1.NetworkPolicyPeer
		for n := next() % 4; n > 0; n-- {
			p := networkingv1.NetworkPolicyPeer{}
			switch next() % 3 {
			case 0:
				if _, err := netip.ParsePrefix(cidr); err != nil {
					continue
				}
				p.IPBlock = &networkingv1.IPBlock{CIDR: cidr}
			case 1:
				p.PodSelector = sels[next()%len(sels)]
				if p.PodSelector == nil {
					p.PodSelector = &metav1.LabelSelector{}
				}
			default:
				p.NamespaceSelector = sels[1+next()%(len(sels)-1)]
				p.PodSelector = sels[next()%len(sels)]
			}
			peers = append(peers, p)
		}
		v := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p"}, Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *sels[1+next()%(len(sels)-1)],
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: peers}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: peers}},
		}}
		h, err := HostPolicy(a, v, a.HostMeta(v), virtualNamespaces, DeniedCIDRs())
		if err != nil {
			t.Fatal(err)
		}
		checkConfined(t, h, a)
		// Which virtual pods the virtual peers select, and which host pods the host peers do.
		want := map[string]bool{}
		for _, ns := range virtualNamespaces {
			for _, app := range []string{"web", "db"} {
				name, l := ns.Name+"/"+app, labels.Set{"app": app}
				if len(peers) == 0 {
					want[name] = true
				}
				for _, p := range peers {
					switch {
					case p.NamespaceSelector != nil:
						nsSel, _ := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
						podSel, _ := metav1.LabelSelectorAsSelector(p.PodSelector) // nil: everything
						if p.PodSelector == nil {
							podSel = labels.Everything()
						}
						want[name] = want[name] || nsSel.Matches(labels.Set(ns.Labels)) && podSel.Matches(l)
					case p.PodSelector != nil:
						s, _ := metav1.LabelSelectorAsSelector(p.PodSelector)
						want[name] = want[name] || ns.Name == "shop" && s.Matches(l)
					}
				}
			}
		}
		got := map[string]bool{}
		for _, p := range h.Spec.Ingress[0].From {
			if p.PodSelector != nil {
				for _, n := range selected(t, p.PodSelector, pods) {
					got[n] = true
				}
			}
		}
		for name := range pods {
			if got[name] != want[name] {
				t.Fatalf("peers %+v: host pod %s selected %v, want %v (host peers %+v)", peers, name, got[name], want[name], h.Spec.Ingress[0].From)
			}
		}
	})
}

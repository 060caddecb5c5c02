package operator

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/syncer/podisolation"
	"github.com/kplex-dev/kplex/internal/translate"
)

func TestResourceQuota(t *testing.T) {
	for _, tc := range []struct {
		name string
		vc   *v1alpha1.VirtualCluster
		want map[corev1.ResourceName]string
	}{
		{"defaults plus the control plane; no node ports or load balancers", vc("a", nil), map[corev1.ResourceName]string{
			"requests.cpu": "4100m", "requests.memory": "8512Mi", "requests.storage": "21Gi", "pods": "51",
			"persistentvolumeclaims": "11", "services": "22", "services.nodeports": "0", "services.loadbalancers": "0"}},
		{"node ports allowed, API exposed as NodePort", vc("a", func(s *v1alpha1.VirtualClusterSpec) {
			s.Isolation.AllowNodePorts = true
			s.Expose.Type = v1alpha1.ExposeNodePort
		}), map[corev1.ResourceName]string{"services.nodeports": "3", "services.loadbalancers": "0"}},
		{"load balancers allowed: node ports too; API not exposed", vc("a", func(s *v1alpha1.VirtualClusterSpec) {
			s.Isolation.AllowLoadBalancers = true
			s.Isolation.Quota.ServicesNodePorts = ptr.To(int32(4))
		}), map[corev1.ResourceName]string{"services.nodeports": "4", "services.loadbalancers": "1"}},
		{"API as LoadBalancer, tenant allowed none", vc("a", func(s *v1alpha1.VirtualClusterSpec) { s.Expose.Type = v1alpha1.ExposeLoadBalancer }),
			map[corev1.ResourceName]string{"services.nodeports": "1", "services.loadbalancers": "1"}},
		{"spec values; a control plane with only limits counts them; external datastore's small claim", vc("a", func(s *v1alpha1.VirtualClusterSpec) {
			s.Isolation.Quota = v1alpha1.Quota{CPU: ptr.To(resource.MustParse("1")), Memory: ptr.To(resource.MustParse("1Gi")),
				Storage: ptr.To(resource.MustParse("0")), Pods: ptr.To(int32(0)), PersistentVolumeClaims: ptr.To(int32(0)), Services: ptr.To(int32(0))}
			s.ControlPlane.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
			s.Datastore = v1alpha1.Datastore{Type: v1alpha1.DatastoreExternal, External: &v1alpha1.ExternalDatastore{SecretRef: v1alpha1.SecretKeyRef{Name: "pg"}}}
		}), map[corev1.ResourceName]string{"requests.cpu": "1100m", "requests.memory": "2Gi", "requests.storage": pkiVolumeSize,
			"pods": "1", "persistentvolumeclaims": "1", "services": "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rq := ResourceQuota(tc.vc)
			if rq.Namespace != "kplex-a" || rq.Name != QuotaName || rq.Labels[LabelManagedBy] != managedBy {
				t.Fatalf("quota %s/%s labels %v", rq.Namespace, rq.Name, rq.Labels)
			}
			for name, want := range tc.want {
				got, ok := rq.Spec.Hard[name]
				if !ok || got.Cmp(resource.MustParse(want)) != 0 {
					t.Errorf("hard %s = %s, want %s", name, got.String(), want)
				}
			}
		})
	}
	lr := LimitRange(vc("a", func(s *v1alpha1.VirtualClusterSpec) {
		s.Isolation.Quota.DefaultMemoryRequest = ptr.To(resource.MustParse("64Mi"))
	}))
	item := lr.Spec.Limits[0]
	if item.Type != corev1.LimitTypeContainer || item.DefaultRequest.Cpu().String() != "100m" || item.DefaultRequest.Memory().String() != "64Mi" || len(item.Default) != 0 {
		t.Errorf("limit range %+v: want default requests 100m/64Mi for containers, no default limits", item)
	}
}

// hostPodsOf are the pods kplex-a holds, and pods of kplex-b, by name, with their labels:
// the tenant's copies, the control plane, and tenant pods whose virtual labels try to pass
// for the control plane or another tenant.
func hostPodsOf(t *testing.T) map[string]labels.Set {
	t.Helper()
	out := map[string]labels.Set{}
	for _, name := range []string{"a", "b"} {
		tr, err := translate.New(translate.Tenant{Name: name, HostNamespace: v1alpha1.HostNamespace(name)})
		if err != nil {
			t.Fatal(err)
		}
		out[name+":web"] = tr.HostLabels("default", map[string]string{"app": "web"})
		out[name+":controlplane"] = StatefulSet(vc(name, nil), "10.96.0.1", "10.96.0.2", ControlPlaneDefaults{Image: "img"}).Spec.Template.Labels
		out[name+":forged-controlplane"] = tr.HostLabels("default", StatefulSet(vc(name, nil), "10.96.0.1", "10.96.0.2", ControlPlaneDefaults{Image: "img"}).Spec.Template.Labels)
		out[name+":forged-tenant"] = tr.HostLabels("default", map[string]string{translate.LabelManagedBy: "zz", translate.LabelTenant: "zz"})
	}
	out["unlabelled"] = labels.Set{}
	return out
}

func selects(t *testing.T, sel *metav1.LabelSelector, pods map[string]labels.Set) []string {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
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

// peersOf lists, for each rule, the pods its pod-selector peers pick (within kplex-a; a
// namespace selector is shown as ns:<name>) and its ipBlocks, and its ports.
func peersOf(t *testing.T, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, pods map[string]labels.Set) string {
	t.Helper()
	var parts []string
	if len(peers) == 0 {
		parts = append(parts, "anywhere")
	}
	for _, p := range peers {
		switch {
		case p.NamespaceSelector != nil && p.NamespaceSelector.MatchLabels[LabelExposesServices] == "true":
			parts = append(parts, "exposing-ns:"+strings.Join(selects(t, p.PodSelector, pods), "+"))
		case p.NamespaceSelector != nil && len(p.NamespaceSelector.MatchLabels)+len(p.NamespaceSelector.MatchExpressions) == 0:
			parts = append(parts, "every-ns")
		case p.NamespaceSelector != nil:
			parts = append(parts, "ns:"+p.NamespaceSelector.MatchLabels[corev1.LabelMetadataName])
		case p.PodSelector != nil:
			parts = append(parts, strings.Join(selects(t, p.PodSelector, pods), "+"))
		case p.IPBlock != nil:
			parts = append(parts, p.IPBlock.CIDR)
		}
	}
	var ps []string
	for _, p := range ports {
		ps = append(ps, string(*p.Protocol)+"/"+p.Port.String())
	}
	return strings.Join(parts, ",") + " ports " + strings.Join(ps, ",")
}

func TestNetworkPolicies(t *testing.T) {
	pods := hostPodsOf(t)
	// Pods of a that the tenant's own NetworkPolicies isolate (labels the syncer sets).
	for _, name := range []string{"a", "b"} {
		web := pods[name+":web"]
		pods[name+":isolated-in"] = labels.Merge(web, labels.Set{podisolation.LabelIngressIsolated: "true"})
		pods[name+":isolated-out"] = labels.Merge(web, labels.Set{podisolation.LabelEgressIsolated: "true"})
		pods[name+":isolated"] = labels.Merge(web, labels.Set{podisolation.LabelIngressIsolated: "true", podisolation.LabelEgressIsolated: "true"})
	}
	api := HostAPI{Addresses: []netip.Addr{netip.MustParseAddr("10.213.0.2")}, Ports: []int32{6443}}
	objs, err := NetworkPolicies(vc("a", nil), api)
	if err != nil {
		t.Fatal(err)
	}
	pol := map[string]*networkingv1.NetworkPolicy{}
	var order []string
	for _, o := range objs {
		p := o.(*networkingv1.NetworkPolicy)
		if p.Namespace != "kplex-a" || p.Labels[LabelManagedBy] != managedBy {
			t.Errorf("policy %s/%s labels %v", p.Namespace, p.Name, p.Labels)
		}
		pol[p.Name] = p
		order = append(order, p.Name)
	}
	// An operator upgraded from a single kplex-tenant-pods applies the same-tenant allows
	// first, so no pod is closed in between.
	if want := []string{PolicyDefaultDeny, PolicyTenantIngress, PolicyTenantEgress, PolicyTenantPods, PolicyControlPlane}; !slices.Equal(order, want) {
		t.Errorf("policies in order %v, want %v", order, want)
	}
	inA := func(names ...string) string { return strings.Join(names, "+") }
	tenantA := []string{"a:forged-controlplane", "a:forged-tenant", "a:isolated", "a:isolated-in", "a:isolated-out", "a:web"}
	tenantB := []string{"b:forged-controlplane", "b:forged-tenant", "b:isolated", "b:isolated-in", "b:isolated-out", "b:web"}
	all := inA(tenantA...)
	in, out := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	both := append(slices.Clone(in), out...)
	for _, tc := range []struct {
		policy  string
		types   []networkingv1.PolicyType
		applies string
		ingress []string
		egress  []string
	}{
		{PolicyDefaultDeny, both, "every pod", nil, nil},
		// Same tenant: only pods no tenant policy isolates in that direction.
		{PolicyTenantIngress, in, inA("a:forged-controlplane", "a:forged-tenant", "a:isolated-out", "a:web"),
			[]string{all + " ports "}, nil},
		{PolicyTenantEgress, out, inA("a:forged-controlplane", "a:forged-tenant", "a:isolated-in", "a:web"), nil,
			[]string{
				all + " ports ",
				"0.0.0.0/0,::/0 ports ",
				// Any tenant's pods, never a control plane, in namespaces that expose.
				"exposing-ns:" + all + "+" + inA(tenantB...) + " ports ",
			}},
		// Every tenant pod, isolated or not: its control plane both ways.
		{PolicyTenantPods, both, all,
			[]string{"a:controlplane ports "},
			[]string{"a:controlplane ports UDP/1053,TCP/1053,TCP/6443"}},
		// The control plane takes DNS and API from isolated pods too.
		{PolicyControlPlane, both, "a:controlplane",
			[]string{
				all + ",a:controlplane,ns:kplex-system ports TCP/6443",
				all + " ports UDP/1053,TCP/1053",
			},
			[]string{
				"10.213.0.2/32 ports TCP/6443",
				"anywhere ports UDP/53,TCP/53",
				all + ",a:controlplane ports ",
			}},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			p := pol[tc.policy]
			if p == nil {
				t.Fatalf("no policy %s", tc.policy)
			}
			if !slices.Equal(p.Spec.PolicyTypes, tc.types) {
				t.Errorf("policy types %v, want %v", p.Spec.PolicyTypes, tc.types)
			}
			applies := strings.Join(selects(t, &p.Spec.PodSelector, pods), "+")
			if tc.applies == "every pod" {
				if len(p.Spec.PodSelector.MatchLabels)+len(p.Spec.PodSelector.MatchExpressions) != 0 {
					t.Errorf("applies to %s, want every pod of the namespace", applies)
				}
			} else if applies != tc.applies {
				t.Errorf("applies to %s, want %s", applies, tc.applies)
			}
			var in, out []string
			for _, r := range p.Spec.Ingress {
				in = append(in, peersOf(t, r.From, r.Ports, pods))
			}
			for _, r := range p.Spec.Egress {
				out = append(out, peersOf(t, r.To, r.Ports, pods))
			}
			if !slices.Equal(in, tc.ingress) {
				t.Errorf("ingress\n got %q\nwant %q", in, tc.ingress)
			}
			if !slices.Equal(out, tc.egress) {
				t.Errorf("egress\n got %q\nwant %q", out, tc.egress)
			}
		})
	}
	// The tenant's pods reach no private, shared or link-local address: not the metadata
	// service, not the host's nodes or API server, not another tenant.
	internet := pol[PolicyTenantEgress].Spec.Egress[1].To
	for _, must := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"} {
		if !slices.Contains(internet[0].IPBlock.Except, must) {
			t.Errorf("IPv4 internet does not except %s: %v", must, internet[0].IPBlock.Except)
		}
	}
	for _, must := range []string{"fc00::/7", "fe80::/10"} {
		if !slices.Contains(internet[1].IPBlock.Except, must) {
			t.Errorf("IPv6 internet does not except %s: %v", must, internet[1].IPBlock.Except)
		}
	}
}

func TestNetworkPoliciesExposedAndUnknownAPI(t *testing.T) {
	objs, err := NetworkPolicies(vc("a", func(s *v1alpha1.VirtualClusterSpec) { s.Expose.Type = v1alpha1.ExposeNodePort }), HostAPI{})
	if err != nil {
		t.Fatal(err)
	}
	var cp *networkingv1.NetworkPolicy
	for _, o := range objs {
		if o.GetName() == PolicyControlPlane {
			cp = o.(*networkingv1.NetworkPolicy)
		}
	}
	last := cp.Spec.Ingress[len(cp.Spec.Ingress)-1]
	if len(cp.Spec.Ingress) != 3 || len(last.From) != 0 || len(last.Ports) != 1 || last.Ports[0].Port.IntVal != securePort {
		t.Errorf("exposed API: ingress %+v, want 6443 from anywhere last", cp.Spec.Ingress)
	}
	api := cp.Spec.Egress[0]
	if len(api.To) != 0 || len(api.Ports) != 2 {
		t.Errorf("unknown host API: egress %+v, want ports 443 and 6443 of any address", api)
	}
}

func TestHostAPIFromSlice(t *testing.T) {
	s := &discoveryv1.EndpointSlice{
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.213.0.2"}}, {Addresses: []string{"not-an-ip"}}},
		Ports:     []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(6443)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	h := HostAPIFromSlice(s)
	if len(h.Addresses) != 1 || h.Addresses[0].String() != "10.213.0.2" || !slices.Equal(h.Ports, []int32{6443}) {
		t.Errorf("host API %+v", h)
	}
	if h := HostAPIFromSlice(&discoveryv1.EndpointSlice{Ports: s.Ports}); len(h.Addresses) != 0 || len(h.Ports) != 0 {
		t.Errorf("no endpoints: %+v, want empty", h)
	}
}

// TestTenantCannotTakeOperatorNames: the syncer names every host copy
// <name>-<namespace>-<8-character tag><2 digits> or <prefix>-<16-character hash>; no name the
// operator gives its objects in the namespace has either form, so a tenant object named to
// collide (a virtual NetworkPolicy kplex-tenant-pods, say) lands elsewhere.
func TestTenantCannotTakeOperatorNames(t *testing.T) {
	tr, err := translate.New(translate.Tenant{Name: "a", HostNamespace: "kplex-a"})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{ControlPlaneName, ServiceName, DNSServiceName, SyncerBinding, QuotaName, LimitRangeName,
		PolicyDefaultDeny, PolicyTenantPods, PolicyTenantIngress, PolicyTenantEgress, PolicyControlPlane, ExposedPolicyName("web-default-0123456789"), ExposedPolicyName("web-0123456789abcdef")}
	for _, name := range names {
		segs := strings.Split(name, "-")
		last := segs[len(segs)-1]
		if len(last) == 16 || (len(last) == 10 && strings.Trim(last[8:], "0123456789") == "") {
			t.Errorf("%s ends in a segment of the syncer's form: %q", name, last)
		}
		for _, ns := range []string{"", "default", "kplex", strings.Repeat("n", 63)} {
			for _, vname := range append(slices.Clone(names), name+"-"+ns, strings.TrimPrefix(name, "kplex-")) {
				if got := tr.HostName(ns, vname); slices.Contains(names, got) {
					t.Errorf("virtual %s/%s becomes host %s, an operator object", ns, vname, got)
				}
			}
		}
	}
}

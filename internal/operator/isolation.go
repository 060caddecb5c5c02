package operator

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/syncer/networkpolicies"
	"github.com/kplex-dev/kplex/internal/syncer/podisolation"
	"github.com/kplex-dev/kplex/internal/translate"
)

// Names of the isolation objects in the tenant's namespace. Like the other operator names,
// their last segment is neither 10 characters ending in two digits nor 16 characters, so no
// synced tenant object can have them (internal/translate).
const (
	QuotaName           = "kplex-quota"
	LimitRangeName      = "kplex-defaults"
	PolicyDefaultDeny   = "kplex-default-deny"
	PolicyTenantPods    = "kplex-tenant-pods"
	PolicyTenantIngress = "kplex-tenant-ingress"
	PolicyTenantEgress  = "kplex-tenant-egress"
	PolicyControlPlane  = "kplex-controlplane"
)

// HostAPI is where the host's API server listens, as pods reach it after kube-proxy's DNAT
// of the kubernetes Service: the endpoints of default/kubernetes. NetworkPolicy is
// evaluated on that address (kube-router filters in FORWARD/OUTPUT, after the DNAT), so
// this, not the Service's ClusterIP, is what the control plane's egress must allow.
type HostAPI struct {
	Addresses []netip.Addr
	Ports     []int32
}

// HostAPIFromSlice reads the API server's addresses and ports from the kubernetes
// EndpointSlice; empty when the slice names none.
func HostAPIFromSlice(s *discoveryv1.EndpointSlice) HostAPI {
	var h HostAPI
	for _, e := range s.Endpoints {
		for _, a := range e.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil {
				h.Addresses = append(h.Addresses, ip)
			}
		}
	}
	for _, p := range s.Ports {
		if p.Port != nil && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
			h.Ports = append(h.Ports, *p.Port)
		}
	}
	if len(h.Addresses) == 0 || len(h.Ports) == 0 {
		return HostAPI{}
	}
	return h
}

// hostAPIFallbackPorts are allowed to any address when the host API's endpoints are unknown
// (a host without the endpoint reconciler): the usual secure ports.
func hostAPIFallbackPorts() []int32 { return []int32{443, 6443} }

// IsolationObjects are the host objects that confine the tenant: a ResourceQuota, a
// LimitRange and five NetworkPolicies. They are applied before anything runs in the
// namespace.
func IsolationObjects(vc *v1alpha1.VirtualCluster, api HostAPI) ([]client.Object, error) {
	pols, err := NetworkPolicies(vc, api)
	if err != nil {
		return nil, err
	}
	return append([]client.Object{ResourceQuota(vc), LimitRange(vc)}, pols...), nil
}

func quotaQuantity(q *resource.Quantity, def string) resource.Quantity {
	if q != nil {
		return q.DeepCopy()
	}
	return resource.MustParse(def)
}

func quotaCount(n *int32, def int32) int64 {
	if n != nil {
		return int64(*n)
	}
	return int64(def)
}

// controlPlaneRequest is what the control-plane container counts against the quota for
// resource name: its request, else its limit (the API server copies it), else the
// LimitRange's default.
func controlPlaneRequest(vc *v1alpha1.VirtualCluster, name corev1.ResourceName, def resource.Quantity) resource.Quantity {
	r := controlPlaneResources(vc)
	if q, ok := r.Requests[name]; ok {
		return q.DeepCopy()
	}
	if q, ok := r.Limits[name]; ok {
		return q.DeepCopy()
	}
	return def
}

// ResourceQuota is the tenant's share of the host (spec.isolation.quota) plus what the
// control plane itself takes: its pod's requests, its claim and its two Services (one node
// port if the API is exposed as NodePort, a load balancer and a node port as LoadBalancer).
// Node ports and load balancers the spec does not allow get a tenant share of 0: a second
// wall behind kplexd's admission.
func ResourceQuota(vc *v1alpha1.VirtualCluster) *corev1.ResourceQuota {
	iso := vc.Spec.Isolation
	q := iso.Quota
	cpuDef, memDef := quotaQuantity(q.DefaultCPURequest, v1alpha1.DefaultCPURequest), quotaQuantity(q.DefaultMemoryRequest, v1alpha1.DefaultMemoryRequest)
	cpu := quotaQuantity(q.CPU, v1alpha1.DefaultQuotaCPU)
	cpu.Add(controlPlaneRequest(vc, corev1.ResourceCPU, cpuDef))
	mem := quotaQuantity(q.Memory, v1alpha1.DefaultQuotaMemory)
	mem.Add(controlPlaneRequest(vc, corev1.ResourceMemory, memDef))
	storage := quotaQuantity(q.Storage, v1alpha1.DefaultQuotaStorage)
	storage.Add(dataVolumeSize(vc))

	var nodePorts, loadBalancers int64
	if iso.AllowNodePorts || iso.AllowLoadBalancers {
		nodePorts = quotaCount(q.ServicesNodePorts, v1alpha1.DefaultQuotaServicesNodePorts)
	}
	if iso.AllowLoadBalancers {
		loadBalancers = quotaCount(q.ServicesLoadBalancers, v1alpha1.DefaultQuotaServicesLoadBalancers)
	}
	switch vc.Spec.Expose.Type {
	case v1alpha1.ExposeNodePort:
		nodePorts++
	case v1alpha1.ExposeLoadBalancer:
		nodePorts++
		loadBalancers++
	}
	count := func(n int64) resource.Quantity { return *resource.NewQuantity(n, resource.DecimalSI) }
	rq := &corev1.ResourceQuota{
		ObjectMeta: objectMeta(vc, QuotaName),
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsCPU:            cpu,
			corev1.ResourceRequestsMemory:         mem,
			corev1.ResourceRequestsStorage:        storage,
			corev1.ResourcePods:                   count(quotaCount(q.Pods, v1alpha1.DefaultQuotaPods) + 1),
			corev1.ResourcePersistentVolumeClaims: count(quotaCount(q.PersistentVolumeClaims, v1alpha1.DefaultQuotaPersistentVolumeClaims) + 1),
			corev1.ResourceServices:               count(quotaCount(q.Services, v1alpha1.DefaultQuotaServices) + 2),
			corev1.ResourceServicesNodePorts:      count(nodePorts),
			corev1.ResourceServicesLoadBalancers:  count(loadBalancers),
		}},
	}
	rq.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ResourceQuota"))
	return rq
}

// LimitRange gives containers that name no requests the spec's default requests, so that
// the quota (which caps requests) never refuses a pod merely for omitting them. It sets no
// default limits: a limit the tenant did not write would kill its pods (and the control
// plane, which has none) at a size nobody chose.
func LimitRange(vc *v1alpha1.VirtualCluster) *corev1.LimitRange {
	q := vc.Spec.Isolation.Quota
	lr := &corev1.LimitRange{
		ObjectMeta: objectMeta(vc, LimitRangeName),
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer,
			DefaultRequest: corev1.ResourceList{
				corev1.ResourceCPU:    quotaQuantity(q.DefaultCPURequest, v1alpha1.DefaultCPURequest),
				corev1.ResourceMemory: quotaQuantity(q.DefaultMemoryRequest, v1alpha1.DefaultMemoryRequest),
			},
		}}},
	}
	lr.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("LimitRange"))
	return lr
}

// tenantPods selects the syncer's copies of the tenant's pods, by the labels the syncer sets
// and the tenant cannot (its keys are moved under vl.kplex.dev).
func tenantPods(vc string) (*metav1.LabelSelector, error) {
	t, err := translate.New(translate.Tenant{Name: vc, HostNamespace: v1alpha1.HostNamespace(vc)})
	if err != nil {
		return nil, fmt.Errorf("tenant selector of virtual cluster %s: %w", vc, err)
	}
	return t.HostSelectorAnyNamespace(nil)
}

// publicInternet are the IPv4 and IPv6 internet without every range no tenant may reach
// (networkpolicies.DeniedCIDRs: private, shared, link-local with the metadata address,
// loopback, multicast): not the host's nodes, not its API server, not other tenants.
func publicInternet() []networkingv1.NetworkPolicyPeer {
	v4 := &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}
	v6 := &networkingv1.IPBlock{CIDR: "::/0"}
	for _, d := range networkpolicies.DeniedCIDRs() {
		if d.Addr().Is4() {
			v4.Except = append(v4.Except, d.String())
		} else {
			v6.Except = append(v6.Except, d.String())
		}
	}
	return []networkingv1.NetworkPolicyPeer{{IPBlock: v4}, {IPBlock: v6}}
}

func ports(proto corev1.Protocol, nums ...int32) []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for _, n := range nums {
		out = append(out, networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto), Port: ptr.To(intstr.FromInt32(n))})
	}
	return out
}

func dnsPorts(n int32) []networkingv1.NetworkPolicyPort {
	return append(ports(corev1.ProtocolUDP, n), ports(corev1.ProtocolTCP, n)...)
}

func networkPolicy(vc *v1alpha1.VirtualCluster, name string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
	p := &networkingv1.NetworkPolicy{ObjectMeta: objectMeta(vc, name), Spec: spec}
	p.SetGroupVersionKind(networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"))
	return p
}

// notIsolated narrows a tenant-pod selector to the pods the syncer did not label with
// label (podisolation): those no tenant NetworkPolicy isolates in that direction.
func notIsolated(pods *metav1.LabelSelector, label string) *metav1.LabelSelector {
	out := pods.DeepCopy()
	out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{Key: label, Operator: metav1.LabelSelectorOpDoesNotExist})
	return out
}

// NetworkPolicies are the host's walls around the tenant. Policies add up, so together
// they allow exactly the union of their rules (docs/security.md):
//
//   - kplex-default-deny selects every pod of the namespace, both directions, no rule:
//     a pod nobody else selects (whatever made it) talks to nothing.
//   - kplex-tenant-pods: every one of the tenant's pods takes traffic from its control
//     plane (webhooks, aggregated APIs, the API server's proxy) and sends to the control
//     plane's DNS (1053 UDP/TCP) and API (6443), whatever the tenant's own NetworkPolicies
//     say: a tenant cannot name its control plane in a policy (the translation confines
//     peers to its pods and public addresses), so it could never allow them again.
//   - kplex-tenant-ingress: the tenant's pods that no tenant policy isolates for ingress
//     (no podisolation.LabelIngressIsolated) take traffic from the tenant's pods.
//   - kplex-tenant-egress: the tenant's pods that no tenant policy isolates for egress
//     send to the tenant's pods, to the public internet, and to the tenant pods of the
//     namespaces that may expose Services (whose own kplex-exposed-* policies admit only
//     the exposed pods and ports: exposed.go).
//   - kplex-controlplane: the control plane takes 6443 from the tenant's pods, itself and
//     the operator's namespace (from anywhere when the API is exposed as NodePort or
//     LoadBalancer), 1053 from the tenant's pods; it sends to the host API server's
//     endpoints (its syncer), to port 53 (its upstream resolver, see below), to the
//     tenant's pods (webhooks, aggregated APIs) and to itself.
//
// An isolated pod gets instead what the tenant's translated policies allow, which never
// reaches beyond the tenant's pods and the public internet. The labels only ever narrow
// the same-tenant allows: a pod without them (a syncer that does not set them, or one the
// tenant took over that removes them) is open within its tenant, never to another.
//
// The upstream resolver is the kubelet's (the cluster DNS or the node's resolv.conf), which
// the operator cannot read without rights on nodes; port 53 anywhere is the narrowest rule
// that works on every host, and only the control plane, which runs kplex's code and not the
// tenant's, gets it.
func NetworkPolicies(vc *v1alpha1.VirtualCluster, api HostAPI) ([]client.Object, error) {
	pods, err := tenantPods(vc.Name)
	if err != nil {
		return nil, err
	}
	cp := &metav1.LabelSelector{MatchLabels: selector(vc.Name)}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	tenant := networkingv1.NetworkPolicyPeer{PodSelector: pods}
	controlPlane := networkingv1.NetworkPolicyPeer{PodSelector: cp}
	operatorNS := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{corev1.LabelMetadataName: install.Namespace}}}

	cpIngress := []networkingv1.NetworkPolicyIngressRule{
		{From: []networkingv1.NetworkPolicyPeer{tenant, controlPlane, operatorNS}, Ports: ports(corev1.ProtocolTCP, securePort)},
		{From: []networkingv1.NetworkPolicyPeer{tenant}, Ports: dnsPorts(dnsPort)},
	}
	if t := vc.Spec.Expose.Type; t == v1alpha1.ExposeNodePort || t == v1alpha1.ExposeLoadBalancer {
		cpIngress = append(cpIngress, networkingv1.NetworkPolicyIngressRule{Ports: ports(corev1.ProtocolTCP, securePort)})
	}
	apiRule := networkingv1.NetworkPolicyEgressRule{Ports: ports(corev1.ProtocolTCP, api.Ports...)}
	for _, a := range api.Addresses {
		apiRule.To = append(apiRule.To, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: netip.PrefixFrom(a, a.BitLen()).String()}})
	}
	if len(apiRule.To) == 0 {
		apiRule = networkingv1.NetworkPolicyEgressRule{Ports: ports(corev1.ProtocolTCP, hostAPIFallbackPorts()...)}
	}
	// The same-tenant allows come before kplex-tenant-pods, which older operators wrote
	// with them: applied in this order, an upgrade never closes a pod in between.
	return []client.Object{
		networkPolicy(vc, PolicyDefaultDeny, networkingv1.NetworkPolicySpec{PolicyTypes: both}),
		networkPolicy(vc, PolicyTenantIngress, networkingv1.NetworkPolicySpec{
			PodSelector: *notIsolated(pods, podisolation.LabelIngressIsolated),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{tenant}}},
		}),
		networkPolicy(vc, PolicyTenantEgress, networkingv1.NetworkPolicySpec{
			PodSelector: *notIsolated(pods, podisolation.LabelEgressIsolated),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{tenant}},
				{To: publicInternet()},
				{To: []networkingv1.NetworkPolicyPeer{exposingTenantPods()}},
			},
		}),
		networkPolicy(vc, PolicyTenantPods, networkingv1.NetworkPolicySpec{
			PodSelector: *pods,
			PolicyTypes: both,
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{controlPlane}}},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{controlPlane}, Ports: append(dnsPorts(dnsPort), ports(corev1.ProtocolTCP, securePort)...)},
			},
		}),
		networkPolicy(vc, PolicyControlPlane, networkingv1.NetworkPolicySpec{
			PodSelector: *cp,
			PolicyTypes: both,
			Ingress:     cpIngress,
			Egress: []networkingv1.NetworkPolicyEgressRule{
				apiRule,
				{Ports: dnsPorts(53)},
				{To: []networkingv1.NetworkPolicyPeer{tenant, controlPlane}},
			},
		}),
	}, nil
}

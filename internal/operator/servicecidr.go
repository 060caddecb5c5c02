package operator

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/internal/servicerange"
)

// AnnotationServiceCIDR on a tenant's host namespace is its block of the host's service
// range: its virtual cluster's --service-cidr. A tenant's Services keep their virtual
// cluster IPs on the host, so blocks never overlap.
const AnnotationServiceCIDR = "kplex.dev/service-cidr"

// hostServiceCIDR is the host's default ServiceCIDR object, which its API server creates.
const hostServiceCIDR = "kubernetes"

// blockAddresses is the size of a tenant's block: some 1,000 Services per tenant.
const blockAddresses = 10 // bits

// serviceBlock is the tenant's block of the host's service range: the one recorded on its
// existing namespace, or for a namespace yet to be made (empty name) the first free one. A namespace made before
// blocks existed has none (zero Prefix): its tenant keeps the API server's own range.
func (r *Reconciler) serviceBlock(ctx context.Context, existing *corev1.Namespace) (netip.Prefix, error) {
	if existing.Name != "" {
		v, ok := existing.Annotations[AnnotationServiceCIDR]
		if !ok {
			return netip.Prefix{}, nil
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("namespace %s: annotation %s=%q is not a CIDR: restore it (the tenant's Services use that range)", existing.Name, AnnotationServiceCIDR, v)
		}
		return p, nil
	}
	alloc, ok, err := r.hostServiceRange(ctx)
	if err != nil || !ok {
		return netip.Prefix{}, err
	}
	var tenants corev1.NamespaceList
	if err := r.Reader.List(ctx, &tenants, client.HasLabels{LabelTenant}); err != nil {
		return netip.Prefix{}, fmt.Errorf("list tenant namespaces: %w", err)
	}
	var used []netip.Prefix
	for _, t := range tenants.Items {
		if p, err := netip.ParsePrefix(t.Annotations[AnnotationServiceCIDR]); err == nil {
			used = append(used, p)
		}
	}
	return alloc.Next(used)
}

// hostServiceRange reads the host's service range (its first IPv4 range, else its first
// range). ok is false when the host publishes none (no ServiceCIDR API) or it is too small
// to share: tenants then keep the API server's own range, as before blocks existed.
func (r *Reconciler) hostServiceRange(ctx context.Context) (servicerange.Allocator, bool, error) {
	sc := &networkingv1.ServiceCIDR{}
	err := r.Reader.Get(ctx, types.NamespacedName{Name: hostServiceCIDR}, sc)
	switch {
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return servicerange.Allocator{}, false, nil
	case err != nil:
		return servicerange.Allocator{}, false, fmt.Errorf("get the host's service range (servicecidr %s): %w", hostServiceCIDR, err)
	}
	var host netip.Prefix
	for _, c := range sc.Spec.CIDRs {
		p, err := netip.ParsePrefix(c)
		if err == nil && (!host.IsValid() || p.Addr().Is4() && !host.Addr().Is4()) {
			host = p
		}
	}
	if !host.IsValid() {
		return servicerange.Allocator{}, false, nil
	}
	bits := max(host.Addr().BitLen()-blockAddresses, host.Bits()+4)
	alloc, err := servicerange.New(host.String(), bits)
	if err != nil {
		return servicerange.Allocator{}, false, nil // too small to share
	}
	return alloc, true, nil
}

// withBlock puts the tenant's block into its host objects: the namespace records it, the
// API server's Service takes the block's first address (the virtual cluster's own
// "kubernetes" Service has it too, so pods reach the API at the address they resolve), the
// DNS Service takes servicerange.ControlPlaneIP (kplexd gives the virtual kube-dns Service
// the same one, so no tenant Service can claim it), and kplexd gets --service-cidr.
func withBlock(block netip.Prefix, ns *corev1.Namespace, api, dns *corev1.Service) {
	if !block.IsValid() {
		return
	}
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	ns.Annotations[AnnotationServiceCIDR] = block.String()
	first := block.Addr().Next().String()
	api.Spec.ClusterIP, api.Spec.ClusterIPs = first, []string{first}
	d := servicerange.ControlPlaneIP(block).String()
	dns.Spec.ClusterIP, dns.Spec.ClusterIPs = d, []string{d}
}

// blockArg is kplexd's --service-cidr for the block (none without one).
func blockArg(block netip.Prefix) []string {
	if !block.IsValid() {
		return nil
	}
	return []string{"--service-cidr=" + block.String()}
}

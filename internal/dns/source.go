// Package dns serves a virtual cluster's DNS: the names of its Services, their endpoints
// and pods in the cluster zone (cluster.local), answered from the virtual API server's
// objects only, and every other name forwarded to an upstream resolver through a cache.
// Reverse lookups of private addresses are never forwarded: the host's resolver would
// name other tenants' pods and services.
package dns

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// Source is what the resolver reads: the virtual cluster's Services and EndpointSlices.
type Source interface {
	Service(namespace, name string) (*corev1.Service, bool)
	// EndpointSlices of one Service.
	EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice
	// ByIP is what owns an address: a Service's cluster IP or an endpoint.
	ByIP(ip netip.Addr) []Owner
}

// Owner is a Service whose cluster IP is an address, or the endpoint of a Service that
// has it (Hostname set when the endpoint has one).
type Owner struct {
	Namespace, Service string
	Endpoint           bool
	Hostname           string
}

const (
	indexBySlice = "service"
	indexByIP    = "ip"
)

// InformerSource is a Source backed by informers on the virtual API server. Objects are
// trimmed to what DNS needs before they are cached.
type InformerSource struct {
	factory   informers.SharedInformerFactory
	services  cache.SharedIndexInformer
	endpoints cache.SharedIndexInformer
}

// NewInformerSource prepares the informers; Start runs them.
func NewInformerSource(cs kubernetes.Interface) (*InformerSource, error) {
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTransform(trim))
	s := &InformerSource{
		factory:   f,
		services:  f.Core().V1().Services().Informer(),
		endpoints: f.Discovery().V1().EndpointSlices().Informer(),
	}
	if err := s.services.AddIndexers(cache.Indexers{indexByIP: serviceIPs}); err != nil {
		return nil, err
	}
	if err := s.endpoints.AddIndexers(cache.Indexers{indexBySlice: sliceService, indexByIP: endpointIPs}); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs the informers until ctx ends and waits for their first list.
func (s *InformerSource) Start(ctx context.Context) error {
	s.factory.Start(ctx.Done())
	for typ, ok := range s.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("DNS: %v informer did not sync", typ)
		}
	}
	return nil
}

func (s *InformerSource) Service(namespace, name string) (*corev1.Service, bool) {
	o, ok, err := s.services.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	return o.(*corev1.Service), true
}

func (s *InformerSource) EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice {
	objs, _ := s.endpoints.GetIndexer().ByIndex(indexBySlice, namespace+"/"+service)
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*discoveryv1.EndpointSlice))
	}
	return out
}

func (s *InformerSource) ByIP(ip netip.Addr) []Owner {
	var out []Owner
	svcs, _ := s.services.GetIndexer().ByIndex(indexByIP, ip.String())
	for _, o := range svcs {
		svc := o.(*corev1.Service)
		out = append(out, Owner{Namespace: svc.Namespace, Service: svc.Name})
	}
	slices, _ := s.endpoints.GetIndexer().ByIndex(indexByIP, ip.String())
	for _, o := range slices {
		es := o.(*discoveryv1.EndpointSlice)
		for _, ep := range es.Endpoints {
			for _, a := range ep.Addresses {
				if a == ip.String() {
					out = append(out, Owner{Namespace: es.Namespace, Service: es.Labels[discoveryv1.LabelServiceName], Endpoint: true, Hostname: ptr.Deref(ep.Hostname, "")})
				}
			}
		}
	}
	return out
}

// trim keeps what DNS reads: managed fields, annotations and most of the spec go.
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return &corev1.Service{
			ObjectMeta: trimMeta(o.ObjectMeta),
			Spec: corev1.ServiceSpec{Type: o.Spec.Type, ClusterIP: o.Spec.ClusterIP, ClusterIPs: o.Spec.ClusterIPs,
				ExternalName: o.Spec.ExternalName, Ports: o.Spec.Ports, PublishNotReadyAddresses: o.Spec.PublishNotReadyAddresses},
		}, nil
	case *discoveryv1.EndpointSlice:
		c := *o
		c.ObjectMeta = trimMeta(o.ObjectMeta)
		c.ObjectMeta.Labels = map[string]string{discoveryv1.LabelServiceName: o.Labels[discoveryv1.LabelServiceName]}
		return &c, nil
	}
	return obj, nil
}

func trimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: m.Namespace, Name: m.Name, UID: m.UID, ResourceVersion: m.ResourceVersion, Labels: m.Labels}
}

func serviceIPs(obj any) ([]string, error) {
	svc := obj.(*corev1.Service)
	var out []string
	for _, ip := range svc.Spec.ClusterIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, a.String())
		}
	}
	return out, nil
}

func sliceService(obj any) ([]string, error) {
	es := obj.(*discoveryv1.EndpointSlice)
	if name := es.Labels[discoveryv1.LabelServiceName]; name != "" {
		return []string{es.Namespace + "/" + name}, nil
	}
	return nil, nil
}

func endpointIPs(obj any) ([]string, error) {
	es := obj.(*discoveryv1.EndpointSlice)
	var out []string
	for _, ep := range es.Endpoints {
		for _, a := range ep.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil {
				out = append(out, ip.String())
			}
		}
	}
	return out, nil
}

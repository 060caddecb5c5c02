package connect

import (
	"context"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/internal/cli/host"
)

// exposedAddress returns where a NodePort or LoadBalancer Service answers
// from outside the host cluster: a load balancer's address, else the node
// port on a node's address. Only these addresses, which the Service exists
// to expose, are tried (a TCP connection, no data); a ClusterIP Service has
// none.
func exposedAddress(ctx context.Context, h *host.Host, namespace, service string, port int32) (string, bool) {
	svc := &corev1.Service{}
	if err := h.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: service}, svc); err != nil {
		return "", false
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port || len(svc.Spec.Ports) == 1 {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		return "", false
	}
	var candidates []string
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if addr := in.IP; addr != "" {
				candidates = append(candidates, net.JoinHostPort(addr, strconv.Itoa(int(sp.Port))))
			} else if in.Hostname != "" {
				candidates = append(candidates, net.JoinHostPort(in.Hostname, strconv.Itoa(int(sp.Port))))
			}
		}
		fallthrough
	case corev1.ServiceTypeNodePort:
		if sp.NodePort != 0 {
			candidates = append(candidates, nodeAddresses(ctx, h, sp.NodePort)...)
		}
	}
	for _, addr := range candidates {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			conn.Close()
			return addr, true
		}
	}
	return "", false
}

// nodeAddresses are the nodes' internal, then external, addresses with port.
func nodeAddresses(ctx context.Context, h *host.Host, port int32) []string {
	nodes := &corev1.NodeList{}
	if err := h.Client.List(ctx, nodes); err != nil {
		return nil // no right to list nodes: port-forward instead
	}
	var addrs []string
	for _, kind := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, n := range nodes.Items {
			for _, a := range n.Status.Addresses {
				if a.Type == kind {
					addrs = append(addrs, net.JoinHostPort(a.Address, strconv.Itoa(int(port))))
				}
			}
		}
	}
	return addrs
}

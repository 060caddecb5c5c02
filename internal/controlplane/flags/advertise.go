package flags

import "net"

// fallbackAdvertise picks the address kube-apiserver publishes when the user gave none and
// the endpoint reconciler is off. It must be a valid non-loopback IP, but nothing routes to
// it: the bind address when it is specific, else an interface address, else the service
// network's first IP (machines with no network at all still start).
func fallbackAdvertise(bind, serviceCIDR string) string {
	if ip := net.ParseIP(bind); ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
		return ip.String()
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	if _, n, err := net.ParseCIDR(serviceCIDR); err == nil {
		ip := append(net.IP{}, n.IP...)
		ip[len(ip)-1]++
		return ip.String()
	}
	return "10.96.0.1"
}

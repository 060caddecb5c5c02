package netns

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/kplex-dev/kplex/internal/devhost/layout"
)

// Ownership is what the machine says about an existing devhost network.
type Ownership struct {
	NetnsExists bool
	VethExists  bool
	Owner       string // alias of the machine's veth end: the data dir of the devhost that made it
}

// Inspect reads the current state of the devhost network on this machine.
func Inspect() Ownership {
	var o Ownership
	if _, err := os.Stat(layout.NetnsPath); err == nil {
		o.NetnsExists = true
	}
	if alias, err := os.ReadFile("/sys/class/net/" + layout.HostVeth + "/ifalias"); err == nil {
		o.VethExists = true
		o.Owner = strings.TrimSpace(string(alias))
	} else if _, err := os.Stat("/sys/class/net/" + layout.HostVeth); err == nil {
		o.VethExists = true
	}
	return o
}

// CheckAddressesFree fails when an interface other than the devhost veth
// already has an address in the devhost's networks.
func CheckAddressesFree() error {
	ifaces, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list network interfaces: %w", err)
	}
	var taken []*net.IPNet
	for _, cidr := range []string{layout.VethCIDR, layout.ClusterCIDR, layout.ServiceCIDR} {
		_, n, _ := net.ParseCIDR(cidr)
		taken = append(taken, n)
	}
	for _, iface := range ifaces {
		if iface.Name == layout.HostVeth {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			for _, n := range taken {
				if n.Contains(ipn.IP) || ipn.Contains(n.IP) {
					return fmt.Errorf("address %s on interface %s overlaps the devhost network %s: remove it (ip addr del %s dev %s) before kplex-devhost up", ipn, iface.Name, n, ipn, iface.Name)
				}
			}
		}
	}
	return nil
}

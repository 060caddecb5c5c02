// Package servicerange gives each tenant its own block of the host's service range.
//
// A tenant's Services keep, on the host, the cluster IPs its virtual cluster gave them, so
// tenants must never share addresses: each virtual cluster's --service-cidr is a distinct
// block of the host's range. The first block is left to the host, whose own Services
// (kubernetes at .1, cluster DNS at .10) sit there by convention.
package servicerange

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
)

// ControlPlaneOffset is where, in its block, a tenant's control-plane Service sits on the
// host: the API server's address for pods, and the tenant's DNS. The virtual cluster's own
// "kubernetes" Service takes the block's first address and never reaches the host.
const ControlPlaneOffset = 10

// Allocator splits Host into blocks of prefix length Bits.
type Allocator struct {
	Host netip.Prefix
	Bits int
}

// New validates the host range and the block size.
func New(host string, blockBits int) (Allocator, error) {
	p, err := netip.ParsePrefix(host)
	if err != nil {
		return Allocator{}, fmt.Errorf("host service range %q: %w", host, err)
	}
	p = p.Masked()
	max := p.Addr().BitLen()
	if blockBits <= p.Bits() || blockBits > max-4 {
		return Allocator{}, fmt.Errorf("tenant block /%d does not fit the host service range %s: give a prefix length between /%d and /%d", blockBits, p, p.Bits()+1, max-4)
	}
	return Allocator{Host: p, Bits: blockBits}, nil
}

// Blocks is how many tenants the host range holds.
func (a Allocator) Blocks() int {
	n := a.Bits - a.Host.Bits()
	if n > 20 {
		return 1 << 20
	}
	return 1<<n - 1 // the first block is the host's
}

// Block i (from 1) of the host range.
func (a Allocator) Block(i int) netip.Prefix {
	b := a.Host.Addr().As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	shift := uint(a.Host.Addr().BitLen() - a.Bits) // block size, in bits of address
	addHi, addLo := uint64(0), uint64(i)<<shift
	if shift >= 64 {
		addHi, addLo = uint64(i)<<(shift-64), 0
	}
	lo2, carry := bits.Add64(lo, addLo, 0)
	hi2, _ := bits.Add64(hi, addHi, carry)
	binary.BigEndian.PutUint64(b[:8], hi2)
	binary.BigEndian.PutUint64(b[8:], lo2)
	addr := netip.AddrFrom16(b)
	if a.Host.Addr().Is4() {
		addr = addr.Unmap()
	}
	return netip.PrefixFrom(addr, a.Bits)
}

// Next is the first block not in used, or an error when the range is full.
func (a Allocator) Next(used []netip.Prefix) (netip.Prefix, error) {
	taken := map[netip.Prefix]bool{}
	for _, u := range used {
		taken[u.Masked()] = true
	}
	for i := 1; i <= a.Blocks(); i++ {
		if b := a.Block(i); !taken[b] {
			return b, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("the host service range %s has no free /%d block left for another virtual cluster", a.Host, a.Bits)
}

// Contains reports whether b is one of the allocator's tenant blocks.
func (a Allocator) Contains(b netip.Prefix) bool {
	return b.Bits() == a.Bits && a.Host.Contains(b.Addr()) && b.Masked() == b && b != netip.PrefixFrom(a.Host.Addr(), a.Bits)
}

// ControlPlaneIP is the host address of the control-plane Service of block b.
func ControlPlaneIP(b netip.Prefix) netip.Addr {
	ip := b.Addr()
	for range ControlPlaneOffset {
		ip = ip.Next()
	}
	return ip
}

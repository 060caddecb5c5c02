package servicerange

import (
	"net/netip"
	"testing"
)

func TestBlocks(t *testing.T) {
	a, err := New("10.96.0.0/16", 20)
	if err != nil {
		t.Fatal(err)
	}
	if a.Blocks() != 15 {
		t.Errorf("blocks of a /16 in /20s: %d, want 15 (the first is the host's)", a.Blocks())
	}
	if b := a.Block(1); b.String() != "10.96.16.0/20" {
		t.Errorf("block 1 = %s", b)
	}
	if b := a.Block(15); b.String() != "10.96.240.0/20" {
		t.Errorf("block 15 = %s", b)
	}
	next, err := a.Next([]netip.Prefix{netip.MustParsePrefix("10.96.16.0/20"), netip.MustParsePrefix("10.96.48.0/20")})
	if err != nil || next.String() != "10.96.32.0/20" {
		t.Errorf("next = %s, %v", next, err)
	}
	var used []netip.Prefix
	for i := 1; i <= a.Blocks(); i++ {
		used = append(used, a.Block(i))
	}
	if _, err := a.Next(used); err == nil {
		t.Error("a full range gave out a block")
	}
	if ip := ControlPlaneIP(a.Block(2)); ip.String() != "10.96.32.10" {
		t.Errorf("control plane IP of block 2 = %s", ip)
	}
	for _, tt := range []struct {
		p    string
		want bool
	}{{"10.96.32.0/20", true}, {"10.96.0.0/20", false}, {"10.96.33.0/20", false}, {"10.96.32.0/24", false}, {"10.97.0.0/20", false}} {
		if got := a.Contains(netip.MustParsePrefix(tt.p)); got != tt.want {
			t.Errorf("Contains(%s) = %v", tt.p, got)
		}
	}
}

func TestIPv6AndWideRanges(t *testing.T) {
	a, err := New("fd00:10:96::/108", 116)
	if err != nil {
		t.Fatal(err)
	}
	if b := a.Block(3); b.String() != "fd00:10:96::3000/116" {
		t.Errorf("IPv6 block 3 = %s", b)
	}
	w, err := New("10.96.0.0/12", 20)
	if err != nil {
		t.Fatal(err)
	}
	if w.Blocks() != 255 {
		t.Errorf("blocks of a /12 in /20s: %d, want 255", w.Blocks())
	}
	if b := w.Block(255); b.String() != "10.111.240.0/20" {
		t.Errorf("last block of a /12 = %s", b)
	}
}

func TestBadRanges(t *testing.T) {
	for _, tt := range []struct {
		host string
		bits int
	}{{"10.96.0.0/16", 16}, {"10.96.0.0/16", 30}, {"not-a-cidr", 20}, {"10.96.0.0/16", 8}} {
		if _, err := New(tt.host, tt.bits); err == nil {
			t.Errorf("New(%s, /%d) accepted", tt.host, tt.bits)
		}
	}
}

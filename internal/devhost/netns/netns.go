// Package netns creates and removes the network of kplex-devhost: one network
// namespace joined to the machine by one veth pair, with no route beyond it,
// and a guard on the machine that drops anything forwarded to or from the veth.
package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/go-logr/logr"

	"github.com/kplex-dev/kplex/internal/devhost/layout"
)

// Tools are the commands this package runs.
type Tools struct {
	IP  string // iproute2's ip
	Nft string // nftables' nft
}

// Network manages the devhost network namespace on this machine.
type Network struct {
	tools Tools
	log   logr.Logger
}

// New returns a Network that uses tools.
func New(tools Tools, log logr.Logger) *Network {
	return &Network{tools: tools, log: log}
}

// Create makes the namespace, the veth pair and the addresses, and installs
// the forwarding guard. owner (the data dir) is written as the alias of the
// machine's veth end, so that another devhost can tell whose network this is.
// It returns the namespace's inode, by which processes inside it are found.
func (n *Network) Create(ctx context.Context, owner string) (uint64, error) {
	steps := [][]string{
		{"netns", "add", layout.NetnsName},
		{"link", "add", layout.HostVeth, "type", "veth", "peer", "name", layout.NodeVeth, "netns", layout.NetnsName},
		{"link", "set", layout.HostVeth, "alias", owner},
		{"addr", "add", fmt.Sprintf("%s/%d", layout.HostIP, layout.VethPrefixLen), "dev", layout.HostVeth},
		{"link", "set", layout.HostVeth, "up"},
		// The machine reaches pods directly, and pods' replies find their way back;
		// the route goes away with the veth.
		{"route", "add", layout.ClusterCIDR, "via", layout.NodeIP, "dev", layout.HostVeth},
		{"-n", layout.NetnsName, "addr", "add", fmt.Sprintf("%s/%d", layout.NodeIP, layout.VethPrefixLen), "dev", layout.NodeVeth},
		{"-n", layout.NetnsName, "link", "set", layout.NodeVeth, "up"},
		{"-n", layout.NetnsName, "link", "set", "lo", "up"},
		// Stand-in "outside" services answer on these, inside the namespace.
		{"-n", layout.NetnsName, "addr", "add", layout.MetadataIP + "/32", "dev", "lo"},
		{"-n", layout.NetnsName, "addr", "add", layout.UpstreamDNSIP + "/32", "dev", "lo"},
	}
	for _, args := range steps {
		if err := n.ip(ctx, args...); err != nil {
			return 0, err
		}
	}
	if err := n.installGuard(ctx); err != nil {
		return 0, err
	}
	ino, err := Inode(layout.NetnsPath)
	if err != nil {
		return 0, err
	}
	n.log.Info("Created network namespace", "netns", layout.NetnsName, "nodeIP", layout.NodeIP, "hostIP", layout.HostIP, "inode", ino)
	return ino, nil
}

// Delete removes the namespace, the veth pair and the guard; what is already
// gone is skipped. Rules and ipsets inside the namespace die with it.
func (n *Network) Delete(ctx context.Context) error {
	var errs []error
	if _, err := os.Stat(layout.NetnsPath); err == nil {
		if err := n.ip(ctx, "netns", "delete", layout.NetnsName); err != nil {
			errs = append(errs, err)
		}
	}
	// Deleting the namespace destroys the veth pair, but asynchronously.
	if _, err := os.Stat("/sys/class/net/" + layout.HostVeth); err == nil {
		if err := n.ip(ctx, "link", "delete", layout.HostVeth); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	if err := n.removeGuard(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (n *Network) ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, n.tools.IP, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Inode is the inode of the network namespace pinned at path (or /proc/PID/ns/net).
func Inode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat network namespace %s: %w", path, err)
	}
	return st.Ino, nil
}

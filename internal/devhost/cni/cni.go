// Package cni writes the pod network configuration of kplex-devhost: one
// bridge with host-local addresses from the node's pod CIDR, port mappings
// for hostPort, and containerd's loopback.
package cni

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/kplex-dev/kplex/internal/devhost/layout"
)

// FileName is the configuration file in the CNI conf dir.
const FileName = "10-kplex-devhost.conflist"

// Config is the pod network of one node.
type Config struct {
	PodCIDR string // the node's spec.podCIDR
	IPAMDir string // host-local allocation store
}

// Render returns the CNI network configuration list.
func (c Config) Render() ([]byte, error) {
	if _, _, err := net.ParseCIDR(c.PodCIDR); err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", c.PodCIDR, err)
	}
	if c.IPAMDir == "" {
		return nil, fmt.Errorf("CNI IPAM dir is empty")
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       layout.CNINetworkName,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      layout.BridgeName,
				"isGateway":   true,
				"hairpinMode": true,
				// No masquerading: the machine routes the pod network to the node
				// (see package netns), so pods keep their addresses up to the machine,
				// and every pod start saves the plugin's per-pod iptables rules.
				"ipMasq":           false,
				"promiscMode":      false,
				"forceAddress":     false,
				"isDefaultGateway": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": c.IPAMDir,
					"ranges":  []any{[]any{map[string]any{"subnet": c.PodCIDR}}},
				},
			},
			map[string]any{
				"type":         "portmap",
				"capabilities": map[string]bool{"portMappings": true},
				"snat":         true,
			},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// Write installs the configuration in confDir, where containerd picks it up.
func (c Config) Write(confDir string) error {
	b, err := c.Render()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(c.IPAMDir, 0o700); err != nil {
		return err
	}
	// Written in place, not renamed into place: containerd 1.6 reloads its CNI
	// configuration on write events in confDir and ignores create events, which
	// is all a rename into the directory produces.
	return os.WriteFile(filepath.Join(confDir, FileName), b, 0o644)
}

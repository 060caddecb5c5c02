package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// namespaceSysctls are set in the devhost network namespace (these settings
// are per namespace; the machine's own are not touched).
func namespaceSysctls() map[string]string {
	return map[string]string{
		// The node routes between the pod bridge and itself.
		"net/ipv4/ip_forward": "1",
		// Pod-to-pod traffic on the bridge must pass iptables, or NetworkPolicy
		// and Service rules would not see it.
		"net/bridge/bridge-nf-call-iptables":  "1",
		"net/bridge/bridge-nf-call-ip6tables": "1",
	}
}

// setSysctls writes namespaceSysctls; the process must be inside the devhost namespace.
func setSysctls() error {
	for key, value := range namespaceSysctls() {
		p := filepath.Join("/proc/sys", key)
		if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
			if strings.HasPrefix(key, "net/bridge/") && errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("the br_netfilter kernel module is not loaded (no %s): load it with modprobe br_netfilter", p)
			}
			return fmt.Errorf("set sysctl %s: %w", key, err)
		}
	}
	return nil
}

const cgroupMount = "/sys/fs/cgroup"

// createCgroupRoot creates the pods' parent cgroup in every hierarchy; the
// kubelet refuses a cgroupRoot that does not exist.
func createCgroupRoot(root string) error {
	entries, err := os.ReadDir(cgroupMount)
	if err != nil {
		return fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	hierarchies := []string{cgroupMount} // a cgroup v2-only machine
	for _, e := range entries {
		hierarchies = append(hierarchies, filepath.Join(cgroupMount, e.Name()))
	}
	for _, h := range hierarchies {
		if _, err := os.Stat(filepath.Join(h, "cgroup.procs")); err != nil {
			continue
		}
		dir := filepath.Join(h, root)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		// A v1 cpuset cgroup accepts no task until it has CPUs and memory nodes.
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			parent, err := os.ReadFile(filepath.Join(h, f))
			if err != nil {
				continue
			}
			cur, _ := os.ReadFile(filepath.Join(dir, f))
			if strings.TrimSpace(string(cur)) == "" {
				if err := os.WriteFile(filepath.Join(dir, f), parent, 0o644); err != nil {
					return fmt.Errorf("initialise cgroup %s: %w", filepath.Join(dir, f), err)
				}
			}
		}
	}
	return nil
}

// Package preflight checks, before anything is changed, that this machine can
// run a devhost, and says in one line what to do when it cannot.
package preflight

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// InstallHint is how users get every dependency at once.
const InstallHint = "hack/install-deps.sh"

// Command is an executable devhost needs and the Debian package that ships it.
type Command struct {
	Name    string
	Package string
}

// Commands are the executables devhost runs, found through PATH.
func Commands() []Command {
	return []Command{
		{"containerd", "containerd"},
		{"containerd-shim-runc-v2", "containerd"},
		{"ctr", "containerd"},
		{"runc", "runc"},
		{"ip", "iproute2"},
		{"nsenter", "util-linux"},
		{"iptables", "iptables"},
		{"iptables-save", "iptables"},
		{"iptables-restore", "iptables"},
		{"nft", "nftables"},
		{"ipset", "ipset"},
		{"conntrack", "conntrack"},
		{"busybox", "busybox-static"},
	}
}

// CNIBinDir is where Debian's containernetworking-plugins puts the plugins.
const CNIBinDir = "/usr/lib/cni"

// CNIPlugins are the plugins of the devhost pod network.
func CNIPlugins() []string { return []string{"bridge", "host-local", "portmap", "loopback"} }

// Paths are the resolved locations of the commands devhost runs.
type Paths map[string]string

// CheckPlatform fails unless this is Linux and we are root.
func CheckPlatform() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("kplex-devhost runs only on Linux (this is %s): use a Linux machine or VM", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("kplex-devhost must run as root (it creates network namespaces and mounts): run it with sudo")
	}
	return nil
}

// FindCommands resolves every command and CNI plugin, or fails naming all the
// Debian packages that are missing.
func FindCommands(lookPath func(string) (string, error)) (Paths, error) {
	paths := Paths{}
	missing := map[string]bool{}
	for _, c := range Commands() {
		p, err := lookPath(c.Name)
		if err != nil {
			missing[c.Package] = true
			continue
		}
		paths[c.Name] = p
	}
	for _, plugin := range CNIPlugins() {
		if _, err := os.Stat(filepath.Join(CNIBinDir, plugin)); err != nil {
			missing["containernetworking-plugins"] = true
		}
	}
	if len(missing) > 0 {
		var pkgs []string
		for p := range missing {
			pkgs = append(pkgs, p)
		}
		sort.Strings(pkgs)
		return nil, fmt.Errorf("missing Debian packages %s: run sudo %s (or apt-get install %s)",
			strings.Join(pkgs, ", "), InstallHint, strings.Join(pkgs, " "))
	}
	return paths, nil
}

// LookPath is exec.LookPath that also searches the sbin directories, which a
// sudo PATH may lack.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// FindCompanion locates a kplex binary (kplex-pause, kplexd): the explicit
// path when given, else next to this executable, else in PATH.
func FindCompanion(name, explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("%s binary %s not found: pass the path of a built %s", name, explicit, name)
		}
		return explicit, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found next to kplex-devhost or in PATH: run make build, or pass --%s", name, name)
}

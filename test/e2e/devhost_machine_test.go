package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// devhostLeftovers lists what a removed devhost must not leave on the machine.
func devhostLeftovers(t *testing.T, dataDir string, netnsInode uint64) []string {
	t.Helper()
	var left []string
	if _, err := os.Stat("/run/netns/kplex-devhost"); err == nil {
		left = append(left, "network namespace /run/netns/kplex-devhost")
	}
	if _, err := os.Stat("/sys/class/net/kplexdh0"); err == nil {
		left = append(left, "veth kplexdh0")
	}
	if exec.Command("nft", "list", "table", "inet", "kplex_devhost_guard").Run() == nil {
		left = append(left, "nft table inet kplex_devhost_guard")
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) > 4 && strings.HasPrefix(fields[4], dataDir) {
				left = append(left, "mount "+fields[4])
			}
		}
		f.Close()
	}
	if entries, err := os.ReadDir("/sys/fs/cgroup"); err == nil {
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", e.Name(), "kplex-devhost")); err == nil {
				left = append(left, "cgroup "+e.Name()+"/kplex-devhost")
			}
		}
	}
	left = append(left, processesInNetns(netnsInode)...)
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if cg, err := os.ReadFile(filepath.Join(p, "cgroup")); err == nil && strings.Contains(string(cg), ":/kplex-devhost") {
			left = append(left, "process in cgroup /kplex-devhost: "+filepath.Base(p))
		}
	}
	if results, err := filepath.Glob("/var/lib/cni/results/kplex-devhost-*"); err == nil && len(results) > 0 {
		left = append(left, "CNI cache "+results[0])
	}
	entries, _ := os.ReadDir(dataDir)
	for _, e := range entries {
		if e.Name() != "logs" && e.Name() != ".lock" {
			left = append(left, "file "+filepath.Join(dataDir, e.Name()))
		}
	}
	return left
}

// processesInNetns lists the processes in the network namespace with that inode.
func processesInNetns(inode uint64) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if ino, err := nsInode(filepath.Join(p, "ns", "net")); err == nil && ino == inode {
			cmd, _ := os.ReadFile(filepath.Join(p, "comm"))
			out = append(out, "process "+filepath.Base(p)+" "+strings.TrimSpace(string(cmd)))
		}
	}
	return out
}

func nsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Ino), nil
}

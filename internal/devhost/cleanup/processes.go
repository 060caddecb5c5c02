// Package cleanup finds and removes what a devhost leaves on the machine:
// processes, mounts, cgroups, CNI cache entries and state files. It works from
// the machine alone, so it also cleans up after a crashed devhost.
package cleanup

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is one process that belongs to the devhost.
type Process struct {
	Pid     int
	Command string
}

// Processes lists the processes that live in the network namespace with inode
// netnsInode (the daemon, containerd and its shims) or in the cgroup subtree
// cgroupRoot of any hierarchy (the pods' containers). Zero netnsInode or empty
// cgroupRoot skips that test. The calling process is never listed.
func Processes(netnsInode uint64, cgroupRoot string) ([]Process, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if (netnsInode != 0 && inNetns(pid, netnsInode)) || (cgroupRoot != "" && inCgroup(pid, cgroupRoot)) {
			out = append(out, Process{Pid: pid, Command: command(pid)})
		}
	}
	return out, nil
}

func inNetns(pid int, inode uint64) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		return false
	}
	return st.Ino == inode
}

func inCgroup(pid int, root string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && (parts[2] == root || strings.HasPrefix(parts[2], root+"/")) {
			return true
		}
	}
	return false
}

func command(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return "?"
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	return filepath.Base(args[0])
}

// KillAll kills, with SIGKILL, every process Processes finds, until none is
// left or timeout passes; it returns the processes that survived, if any.
func KillAll(ctx context.Context, netnsInode uint64, cgroupRoot string, timeout time.Duration) ([]Process, error) {
	deadline := time.Now().Add(timeout)
	for {
		procs, err := Processes(netnsInode, cgroupRoot)
		if err != nil {
			return nil, err
		}
		if len(procs) == 0 {
			return nil, nil
		}
		if time.Now().After(deadline) {
			return procs, fmt.Errorf("%d devhost processes survived SIGKILL for %s (first: pid %d %s)", len(procs), timeout, procs[0].Pid, procs[0].Command)
		}
		for _, p := range procs {
			_ = syscall.Kill(p.Pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return procs, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

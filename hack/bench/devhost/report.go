package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

// burstNote explains the burst numbers, measured when the program was written.
const burstNote = "Creating 50 pods at once is CPU-bound on 2 cores: every pod start runs about ten short-lived processes (containerd shim, runc several times, the CNI plugins, the pause program), and kube-router re-syncs its rules on pod events; over four runs on this machine the burst p50 ranged from 25 s to 46 s. One pod at a time is the latency a test sees."

const (
	beginMarker = "<!-- bench:devhost:begin -->"
	endMarker   = "<!-- bench:devhost:end -->"
)

// write replaces the devhost section of the markdown file (or creates it).
func write(path string, r results, o options) error {
	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	sec := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n## kplex-devhost (`hack/bench/devhost`)\n\n", beginMarker)
	fmt.Fprintf(&b, "Measured %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(&b, "| metric | value |\n|---|---|\n")
	ups := make([]string, len(r.up))
	for i, d := range r.up {
		ups[i] = sec(d)
	}
	fmt.Fprintf(&b, "| `up` to node Ready, from nothing (median of %d: %s) | %s |\n", len(r.up), strings.Join(ups, ", "), sec(median(r.up)))
	fmt.Fprintf(&b, "| pod create to Running, one pod at a time (%d pods), p50 | %s |\n", len(r.sequential), sec(percentile(r.sequential, .5)))
	fmt.Fprintf(&b, "| pod create to Running, one pod at a time (%d pods), max | %s |\n", len(r.sequential), sec(percentile(r.sequential, 1)))
	fmt.Fprintf(&b, "| pod create to Running, %d pods created at once, p50 | %s |\n", len(r.podLatency), sec(percentile(r.podLatency, .5)))
	fmt.Fprintf(&b, "| pod create to Running, %d pods created at once, p99 | %s |\n", len(r.podLatency), sec(percentile(r.podLatency, .99)))
	fmt.Fprintf(&b, "| idle RSS of the whole devhost, %s after Ready, no pods (%d processes) | %s |\n", r.idleSeconds, r.idle.processes, mib(r.idle.total))
	fmt.Fprintf(&b, "|   of which anonymous (heap, stacks) | %s |\n", mib(r.idle.anon))
	fmt.Fprintf(&b, "|   of which file-backed (program text) | %s |\n", mib(r.idle.file))
	var names []string
	for n := range r.idle.byCommand {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "|   %s | %s |\n", n, mib(r.idle.byCommand[n]))
	}
	fmt.Fprintf(&b, "\nThe daemon (`kplex-devhost`) holds, in one process, the control plane (kine, kube-apiserver, kube-controller-manager, kube-scheduler), the kubelet, kube-proxy, the network policy controller and the volume provisioner; containerd is its only child at idle.\n\n%s\n%s\n", burstNote, endMarker)

	old, _ := os.ReadFile(path)
	s := string(old)
	if i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker); i >= 0 && j > i {
		s = s[:i] + b.String() + s[j+len(endMarker)+1:]
	} else {
		s += b.String()
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

// machine describes where the numbers come from: nproc, free -g, uname -r.
func machine() string {
	mem := "?"
	if out, err := exec.Command("free", "-g").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Mem:" {
				mem = f[1] + " GiB"
			}
		}
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	return fmt.Sprintf("%d cores (nproc), %s RAM (free -g), Linux %s (uname -r), %s", runtime.NumCPU(), mem, strings.TrimSpace(string(kernel)), runtime.Version())
}

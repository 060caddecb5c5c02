package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

const (
	beginMarker = "<!-- bench:controlplane:begin -->"
	endMarker   = "<!-- bench:controlplane:end -->"
)

// write replaces the control-plane section of the markdown file (or appends it).
func write(path string, rs []result, o options) error {
	k, u := rs[0], rs[1]
	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	lat := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	ratio := func(a, b float64) string { return fmt.Sprintf("%.2f", a/b) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n## Control plane: kplexd vs upstream (`make bench`)\n\n", beginMarker)
	fmt.Fprintf(&b, "Measured %s on %s. Same run, same flags (`internal/controlplane/flags`), same versions (Kubernetes v1.37.2, kine v0.17.5, SQLite). Ratio = kplexd / upstream (lower is better).\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(&b, "| metric | kplexd | upstream | ratio |\n|---|---|---|---|\n")
	row := func(name, a, bb, r string) { fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, a, bb, r) }
	row(fmt.Sprintf("start to /readyz, fresh (median of %d)", o.runs), ms(median(k.fresh)), ms(median(u.fresh)), ratio(median(k.fresh).Seconds(), median(u.fresh).Seconds()))
	row(fmt.Sprintf("start to /readyz, restart (median of %d)", o.runs), ms(median(k.restart)), ms(median(u.restart)), ratio(median(k.restart).Seconds(), median(u.restart).Seconds()))
	row(fmt.Sprintf("idle RSS at %s (all processes)", o.idle), mib(k.idleRSS), mib(u.idleRSS), ratio(float64(k.idleRSS), float64(u.idleRSS)))
	row("  of which anonymous (heap, stacks)", mib(k.idleAnon), mib(u.idleAnon), ratio(float64(k.idleAnon), float64(u.idleAnon)))
	row("  of which file-backed (program text, shared between tenants)", mib(k.idleFile), mib(u.idleFile), ratio(float64(k.idleFile), float64(u.idleFile)))
	row(fmt.Sprintf("RSS after %d ConfigMaps", o.objects), mib(k.loadRSS), mib(u.loadRSS), ratio(float64(k.loadRSS), float64(u.loadRSS)))
	row(fmt.Sprintf("create latency p50 (%d sequential)", o.objects), lat(percentile(k.latencies, .5)), lat(percentile(u.latencies, .5)), ratio(float64(percentile(k.latencies, .5)), float64(percentile(u.latencies, .5))))
	row(fmt.Sprintf("create latency p99 (%d sequential)", o.objects), lat(percentile(k.latencies, .99)), lat(percentile(u.latencies, .99)), ratio(float64(percentile(k.latencies, .99)), float64(percentile(u.latencies, .99))))
	fmt.Fprintf(&b, "\nFloors from the issue: ready on restart <= 3 s (kplexd: %s); whole-process idle RSS <= 200 MiB (kplexd: %s).\n", ms(median(k.restart)), mib(k.idleRSS))
	fmt.Fprintf(&b, "kplexd writes SQLite with synchronous=FULL (an fsync per commit, durable across power loss); the upstream kine default is NORMAL: part of any latency difference is that choice.\n%s\n", endMarker)

	return replaceSection(path, beginMarker, endMarker, b.String())
}

// replaceSection replaces the text between begin and end markers (inclusive) of the
// markdown file with section, or appends section.
func replaceSection(path, begin, end, section string) error {
	old, _ := os.ReadFile(path)
	s := string(old)
	if i, j := strings.Index(s, begin), strings.Index(s, end); i >= 0 && j > i {
		s = s[:i] + section + s[j+len(end)+1:]
	} else {
		if s == "" {
			s = "# kplex benchmarks\n\nProduced by programs (`make bench`); each section says when and where it was measured.\n\n"
		}
		s += "\n" + section
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1]
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	return fmt.Sprintf("%d cores (%s), %s kB RAM, Linux %s, %s", runtime.NumCPU(), cpu, mem, strings.TrimSpace(string(kernel)), runtime.Version())
}

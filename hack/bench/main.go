// Command bench measures kplexd's control plane side by side with the upstream baseline
// (kine, kube-apiserver and kube-controller-manager of the same versions as separate
// processes, with the same flags) in one run, and the syncer side by side with the same
// pods created directly on the host, and the tenant's DNS server side by side with a bare
// DNS server answering the same load, and writes the results to BENCHMARKS.md.
//
//	go run ./hack/bench -bin bin -out BENCHMARKS.md
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	bin := flag.String("bin", "bin", "directory with kplexd and baseline/{kine,kube-apiserver,kube-controller-manager}")
	out := flag.String("out", "BENCHMARKS.md", "markdown file; the control-plane section is replaced")
	runs := flag.Int("runs", 5, "start-up measurements per variant (median reported)")
	objects := flag.Int("objects", 1000, "ConfigMaps created sequentially for latency and memory")
	idle := flag.Duration("idle", 60e9, "wait before the idle memory reading")
	only := flag.String("only", "", "measure one control-plane variant (kplexd or upstream) without writing the report, for debugging")
	part := flag.String("part", "all", "what to measure: controlplane, syncer, dns or all")
	syncPods := flag.Int("syncer-pods", 500, "pods created in the tenant for the syncer measurement")
	syncRate := flag.Int("syncer-rate", 50, "pods created per second for the syncer measurement")
	syncSweep := flag.String("syncer-sweep", "10,25", "further pod rates (comma-separated, \"\" for none), each measured with fresh processes and 10 s of pods, to find the rate up to which the latency floor holds")
	dnsClients := flag.Int("dns-clients", 8, "concurrent UDP clients of the DNS measurement")
	dnsDuration := flag.Duration("dns-duration", 10e9, "how long each DNS load runs")
	dnsSettle := flag.Duration("dns-settle", 30e9, "wait before the DNS memory readings")
	profileDir := flag.String("syncer-profile", "", "write CPU profiles of both kplexd processes, taken while the pods go through the syncer, to this directory")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	sweep, err := rates(*syncSweep)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(ctx, options{syncSweep: sweep, only: *only, part: *part, bin: *bin, out: *out, runs: *runs, objects: *objects, idle: *idle, syncPods: *syncPods, syncRate: *syncRate,
		dnsClients: *dnsClients, dnsDuration: *dnsDuration, dnsSettle: *dnsSettle, profileDir: *profileDir}); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// rates parses the -syncer-sweep list: positive pod rates, comma-separated.
func rates(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-syncer-sweep %q: %q is not a positive number of pods per second", list, f)
		}
		out = append(out, n)
	}
	return out, nil
}

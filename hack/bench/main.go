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
	dnsClients := flag.Int("dns-clients", 8, "concurrent UDP clients of the DNS measurement")
	dnsDuration := flag.Duration("dns-duration", 10e9, "how long each DNS load runs")
	dnsSettle := flag.Duration("dns-settle", 30e9, "wait before the DNS memory readings")
	profileDir := flag.String("syncer-profile", "", "write CPU profiles of both kplexd processes, taken while the pods go through the syncer, to this directory")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, options{only: *only, part: *part, bin: *bin, out: *out, runs: *runs, objects: *objects, idle: *idle, syncPods: *syncPods, syncRate: *syncRate,
		dnsClients: *dnsClients, dnsDuration: *dnsDuration, dnsSettle: *dnsSettle, profileDir: *profileDir}); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

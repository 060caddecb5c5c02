// Command devhost measures kplex-devhost: start-up to node Ready (median of
// several runs), pod create-to-Running latency for a burst of pods, and the
// memory of the whole devhost at idle. It writes a markdown section.
//
//	sudo go run ./hack/bench/devhost -bin bin -out BENCHMARKS.md
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	o := options{}
	flag.StringVar(&o.bin, "bin", "bin", "directory with kplex-devhost, kplex-pause (and kplexd)")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "markdown file; the devhost section is replaced")
	flag.StringVar(&o.dataDir, "data-dir", "/tmp/kplex-devhost-bench", "devhost data dir used by the benchmark (emptied)")
	flag.IntVar(&o.runs, "runs", 3, "up-to-Ready measurements (median reported)")
	flag.IntVar(&o.pods, "pods", 50, "pods created at once for the start-up latency")
	flag.IntVar(&o.sequential, "sequential", 10, "pods created one at a time before the burst")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "wait after Ready before the idle memory reading")
	flag.BoolVar(&o.podsOnly, "pods-only", false, "only measure pod start-up, on the devhost already running at -data-dir; print, write nothing")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench devhost:", err)
		os.Exit(1)
	}
}

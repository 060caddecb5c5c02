// Command kplex-netgate is the first init container of every tenant pod when the syncer
// runs with --network-gate-image: it exits 0 once the pod's egress network policy is
// demonstrably in effect, and 1 (naming the cause) if it is not within the deadline, so
// that no tenant container ever runs unfiltered. Standard library only: it starts in
// milliseconds in every pod.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kplex-dev/kplex/internal/netgate"
)

func main() {
	var c netgate.Config
	flag.StringVar(&c.Probe, "probe", "", "host:port that the pod's egress policy denies and that accepts connections otherwise (the host API server's Service address)")
	flag.StringVar(&c.Node, "node", os.Getenv("NODE_NAME"), "the pod's node, named in the failure message")
	flag.DurationVar(&c.Deadline, "deadline", netgate.DefaultDeadline, "give up (exit 1) after this long")
	flag.DurationVar(&c.Interval, "interval", netgate.DefaultInterval, "pause between attempts")
	flag.DurationVar(&c.DialTimeout, "dial-timeout", netgate.DefaultDialTimeout, "an attempt that takes longer counts as dropped by the policy")
	flag.Parse()
	if c.Probe == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "kplex-netgate: usage: kplex-netgate --probe HOST:PORT [--deadline 60s]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	r, err := netgate.Wait(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
	fmt.Printf("network policy in effect after %s (%d attempts): %s: %v\n", r.Waited.Round(1e6), r.Attempts, c.Probe, r.Evidence)
}

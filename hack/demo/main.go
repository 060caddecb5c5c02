// Command demo shows kplex working in a few minutes, as a new user would try it: it
// brings the devhost up (a real single-node host), installs kplex, creates two virtual
// clusters, runs a web server in each and shows that each sees only its own world.
// `make demo` runs it; `make demo-down` deletes the tenants and stops the devhost.
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
	bin := flag.String("bin", "bin", "directory holding kplex, kplexd and kplex-devhost")
	down := flag.Bool("down", false, "delete the demo's virtual clusters and stop the devhost")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: the devhost creates a network namespace and runs containers: run sudo make demo")
		os.Exit(1)
	}
	d := &demo{bin: *bin}
	var err error
	if *down {
		err = d.down(ctx)
	} else {
		err = d.up(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

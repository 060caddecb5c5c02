// Command demo shows kplex working in a minute: two tenants, each with its own real
// control plane, each seeing only its own world. `make demo` runs it; `make demo-down`
// stops what it started.
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
	bin := flag.String("bin", "bin", "directory holding kplexd")
	dir := flag.String("dir", "/tmp/kplex-demo", "where the tenants' data lives")
	down := flag.Bool("down", false, "stop the demo's tenants and remove their data")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var err error
	if *down {
		err = stopAll(*dir)
	} else {
		err = run(ctx, *bin, *dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

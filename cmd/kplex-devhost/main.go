// Command kplex-devhost runs a real single-node Kubernetes host on this Linux
// machine, for kplex demos and end-to-end tests. See docs/devhost.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kplex-dev/kplex/internal/devhost/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kplex-devhost: %v\n", err)
		os.Exit(1)
	}
}

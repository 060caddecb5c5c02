// kplexd is kplex's server side: a tenant's control plane, and (later) the host operator.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kplex-dev/kplex/internal/kplexd"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := kplexd.NewCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "kplexd:", err)
		cancel()
		os.Exit(1)
	}
}

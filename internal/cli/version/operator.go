package version

import (
	"context"

	"github.com/kplex-dev/kplex/internal/cli/host"
)

// operatorVersion describes the operator Deployment that kplex install made.
func operatorVersion(ctx context.Context, h *host.Host) string {
	return "not installed (run kplex install)"
}

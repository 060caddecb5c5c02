package version

import (
	"context"

	"github.com/kplex-dev/kplex/internal/cli/host"
)

// operatorVersion describes the operator Deployment that kplex install made:
// kplexd images carry no other version yet, so its image names it.
func operatorVersion(ctx context.Context, h *host.Host) string {
	op, err := h.Operator(ctx)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return op.String()
}

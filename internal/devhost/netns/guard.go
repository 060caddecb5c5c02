package netns

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/kplex-dev/kplex/internal/devhost/layout"
)

// guardRuleset is an nftables table on the machine: whatever the machine's
// forwarding setting, no packet is forwarded between the devhost veth and any
// other interface, so the devhost cannot reach past this machine and nothing
// outside can be routed into it. Traffic between the machine itself and the
// devhost (the kubeconfig's API server address) is not forwarded and passes.
func guardRuleset() string {
	return fmt.Sprintf(`table inet %[1]s {
	chain forward {
		type filter hook forward priority -10; policy accept;
		iifname %[2]q drop
		oifname %[2]q drop
	}
}
`, layout.HostGuardTable, layout.HostVeth)
}

func (n *Network) installGuard(ctx context.Context) error {
	// Replace any previous copy so that the table holds exactly these rules.
	_ = n.removeGuard(ctx)
	cmd := exec.CommandContext(ctx, n.tools.Nft, "-f", "-")
	cmd.Stdin = strings.NewReader(guardRuleset())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("install forwarding guard (nft table %s): %w: %s", layout.HostGuardTable, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (n *Network) removeGuard(ctx context.Context) error {
	if !n.GuardInstalled(ctx) {
		return nil
	}
	out, err := exec.CommandContext(ctx, n.tools.Nft, "delete", "table", "inet", layout.HostGuardTable).CombinedOutput()
	if err != nil {
		return fmt.Errorf("remove nft table %s: %w: %s", layout.HostGuardTable, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// GuardInstalled reports whether the guard table exists on the machine.
func (n *Network) GuardInstalled(ctx context.Context) bool {
	return exec.CommandContext(ctx, n.tools.Nft, "list", "table", "inet", layout.HostGuardTable).Run() == nil
}

package containerd

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Namespace is the containerd namespace the CRI plugin (and so the kubelet) uses.
const Namespace = "k8s.io"

// Importer imports image archives into a containerd through its ctr client.
type Importer struct {
	ctr    string // path of the ctr binary
	socket string
}

// NewImporter returns an importer that talks to the containerd at socket.
func NewImporter(ctrBinary, socket string) *Importer {
	return &Importer{ctr: ctrBinary, socket: socket}
}

// Import loads an OCI or Docker image archive into the CRI namespace and
// unpacks it, so that pods can use it with imagePullPolicy IfNotPresent.
func (i *Importer) Import(ctx context.Context, archive string) (string, error) {
	out, err := i.run(ctx, "images", "import", "--no-unpack=false", archive)
	if err != nil {
		return "", fmt.Errorf("import image %s: %w", archive, err)
	}
	return strings.TrimSpace(out), nil
}

// List returns the image references in the CRI namespace.
func (i *Importer) List(ctx context.Context) ([]string, error) {
	out, err := i.run(ctx, "images", "list", "-q")
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	return strings.Fields(out), nil
}

func (i *Importer) run(ctx context.Context, args ...string) (string, error) {
	argv := append([]string{"--address", i.socket, "--namespace", Namespace}, args...)
	cmd := exec.CommandContext(ctx, i.ctr, argv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

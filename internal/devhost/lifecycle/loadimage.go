package lifecycle

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/kplex-dev/kplex/internal/devhost/containerd"
	"github.com/kplex-dev/kplex/internal/devhost/layout"
	"github.com/kplex-dev/kplex/internal/devhost/proc"
)

// LoadImage imports an OCI or Docker image archive into the running devhost.
func LoadImage(ctx context.Context, l layout.Layout, ctr, archive string, out io.Writer) error {
	if _, err := os.Stat(archive); err != nil {
		return fmt.Errorf("image archive %s not found: give the path of an OCI or docker save tar file", archive)
	}
	if pid, _ := proc.ReadPidFile(l.PidFile()); !proc.Running(pid, daemonMarks()...) {
		return fmt.Errorf("devhost is not running: start it with kplex-devhost up")
	}
	msg, err := containerd.NewImporter(ctr, l.ContainerdSocket()).Import(ctx, archive)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, msg)
	return nil
}

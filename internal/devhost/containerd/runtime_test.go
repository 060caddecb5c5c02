package containerd

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/kplex-dev/kplex/internal/devhost/image"
)

// TestStartAndImport starts a real containerd in a temporary directory and
// imports the test image built by package image.
func TestStartAndImport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts containerd: skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("starts containerd: needs root")
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("containerd not installed: run hack/install-deps.sh")
	}
	ctr, _ := exec.LookPath("ctr")
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed: run hack/install-deps.sh")
	}
	dir, err := os.MkdirTemp("/tmp", "ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := Config{
		Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state"),
		Socket: filepath.Join(dir, "c.sock"), RuncRoot: filepath.Join(dir, "runc"),
		SandboxImage: image.PauseRef, CNIBinDir: "/usr/lib/cni", CNIConfDir: filepath.Join(dir, "cni"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt, err := Start(ctx, bin, cfg, filepath.Join(dir, "config.toml"), filepath.Join(dir, "containerd.log"), testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Stop(); err != nil {
			t.Error(err)
		}
	})

	spec, err := image.Testbox(busybox)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "testbox.tar")
	if _, err := image.WriteArchive(archive, spec); err != nil {
		t.Fatal(err)
	}
	imp := NewImporter(ctr, cfg.Socket)
	out, err := imp.Import(ctx, archive)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("import: %s", out)
	refs, err := imp.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(refs, image.TestboxRef) {
		t.Fatalf("images after import = %v, want %s", refs, image.TestboxRef)
	}
}

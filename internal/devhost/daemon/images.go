package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kplex-dev/kplex/internal/devhost/containerd"
	"github.com/kplex-dev/kplex/internal/devhost/image"
)

// imageArchives are the built archives: what the node needs before it can
// run pods, and the rest.
type imageArchives struct {
	node  []string
	extra []string
}

// buildImages writes the archives of the built-in images into dir.
func (d *daemon) buildImages(dir string) (imageArchives, error) {
	var out imageArchives
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return out, err
	}
	type build struct {
		name  string
		spec  func() (image.Spec, error)
		extra bool
	}
	builds := []build{
		{"pause", func() (image.Spec, error) { return image.Pause(d.opts.PauseBinary) }, false},
		{"testbox", func() (image.Spec, error) { return image.Testbox(d.opts.Tools["busybox"]) }, false},
	}
	if d.opts.KplexdBinary != "" {
		// make build puts the network gate next to kplexd.
		netgate := filepath.Join(filepath.Dir(d.opts.KplexdBinary), "kplex-netgate")
		if _, err := os.Stat(netgate); err != nil {
			return out, fmt.Errorf("kplex-netgate not found next to kplexd (%s): run make build, which builds both", netgate)
		}
		builds = append(builds, build{"kplexd", func() (image.Spec, error) { return image.Kplexd(d.opts.KplexdBinary, netgate) }, true})
	} else {
		d.log.Info("No kplexd binary given: the kplexd image is not built", "image", image.KplexdRef)
	}
	for _, b := range builds {
		spec, err := b.spec()
		if err != nil {
			return out, err
		}
		path := filepath.Join(dir, b.name+".tar")
		digest, err := image.WriteArchive(path, spec)
		if err != nil {
			return out, err
		}
		d.log.Info("Built image", "image", spec.Ref, "digest", digest)
		if b.extra {
			out.extra = append(out.extra, path)
		} else {
			out.node = append(out.node, path)
		}
	}
	return out, nil
}

// importImages loads the archives into containerd.
func (d *daemon) importImages(ctx context.Context, socket string, archives []string) error {
	imp := containerd.NewImporter(d.opts.Tools["ctr"], socket)
	for _, a := range archives {
		if _, err := imp.Import(ctx, a); err != nil {
			return fmt.Errorf("import built-in image: %w", err)
		}
	}
	return nil
}

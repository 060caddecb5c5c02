package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kplex-dev/kplex/internal/devhost/containerd"
	"github.com/kplex-dev/kplex/internal/devhost/image"
)

// buildImages writes the archives of the built-in images into dir and returns their paths.
func (d *daemon) buildImages(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	type build struct {
		name string
		spec func() (image.Spec, error)
	}
	builds := []build{
		{"pause", func() (image.Spec, error) { return image.Pause(d.opts.PauseBinary) }},
		{"testbox", func() (image.Spec, error) { return image.Testbox(d.opts.Tools["busybox"]) }},
	}
	if d.opts.KplexdBinary != "" {
		builds = append(builds, build{"kplexd", func() (image.Spec, error) { return image.Kplexd(d.opts.KplexdBinary) }})
	} else {
		d.log.Info("No kplexd binary given: the kplexd image is not built", "image", image.KplexdRef)
	}
	var archives []string
	for _, b := range builds {
		spec, err := b.spec()
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, b.name+".tar")
		digest, err := image.WriteArchive(path, spec)
		if err != nil {
			return nil, err
		}
		d.log.Info("Built image", "image", spec.Ref, "digest", digest)
		archives = append(archives, path)
	}
	return archives, nil
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

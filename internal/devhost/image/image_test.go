package image

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteArchiveLayout(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tool")
	if err := os.WriteFile(bin, []byte("#!tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Ref:        "localhost/kplex/test:v9",
		Entrypoint: []string{"/usr/bin/tool"},
		Files: []File{
			{Path: "/usr/bin/tool", Source: bin},
			{Path: "/etc/motd", Data: []byte("hi\n")},
			{Path: "/bin/sh", Link: "/usr/bin/tool"},
			{Path: "/tmp", Dir: true, Mode: 0o777 | os.ModeSticky},
		},
	}
	out := filepath.Join(dir, "img.tar")
	digest, err := WriteArchive(out, spec)
	if err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(dir, "img2.tar")
	digest2, err := WriteArchive(again, spec)
	if err != nil {
		t.Fatal(err)
	}
	if digest != digest2 {
		t.Errorf("same spec gave digests %s and %s: archives must be reproducible", digest, digest2)
	}

	files := readTar(t, out)
	for _, name := range []string{"oci-layout", "index.json", blobPath(digest)} {
		if _, ok := files[name]; !ok {
			t.Fatalf("archive lacks %s; has %v", name, keys(files))
		}
	}
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if got := idx.Manifests[0].Annotations[annotationImageName]; got != spec.Ref {
		t.Errorf("image name annotation = %q, want %q", got, spec.Ref)
	}
	if got := idx.Manifests[0].Annotations[annotationRefName]; got != "v9" {
		t.Errorf("ref name annotation = %q, want v9", got)
	}
	var man manifest
	if err := json.Unmarshal(files[blobPath(digest)], &man); err != nil {
		t.Fatal(err)
	}
	var cfg imageConfig
	if err := json.Unmarshal(files[blobPath(man.Config.Digest)], &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.RootFS.DiffIDs[0] != man.Layers[0].Digest {
		t.Errorf("diff id %s != layer digest %s for an uncompressed layer", cfg.RootFS.DiffIDs[0], man.Layers[0].Digest)
	}
	layer := files[blobPath(man.Layers[0].Digest)]
	if int64(len(layer)) != man.Layers[0].Size {
		t.Errorf("layer size %d, manifest says %d", len(layer), man.Layers[0].Size)
	}
	entries := layerEntries(t, layer)
	want := []string{"bin/", "bin/sh", "etc/", "etc/motd", "tmp/", "usr/", "usr/bin/", "usr/bin/tool"}
	if strings.Join(entries, ",") != strings.Join(want, ",") {
		t.Errorf("layer entries = %v, want %v", entries, want)
	}
}

func TestSpecValidate(t *testing.T) {
	for name, spec := range map[string]Spec{
		"no tag":        {Ref: "localhost/x"},
		"relative path": {Ref: "x:1", Files: []File{{Path: "bin/x", Data: []byte{}}}},
		"unclean path":  {Ref: "x:1", Files: []File{{Path: "/bin/../x", Data: []byte{}}}},
		"two kinds":     {Ref: "x:1", Files: []File{{Path: "/x", Data: []byte{}, Dir: true}}},
		"no kind":       {Ref: "x:1", Files: []File{{Path: "/x"}}},
		"duplicate":     {Ref: "x:1", Files: []File{{Path: "/x", Dir: true}, {Path: "/x", Dir: true}}},
	} {
		if err := spec.validate(); err == nil {
			t.Errorf("%s: validate accepted %+v", name, spec)
		}
	}
}

func TestCheckStaticRejectsNonELF(t *testing.T) {
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Pause(p); err == nil {
		t.Fatal("Pause accepted a shell script")
	}
}

func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
	}
}

func layerEntries(t *testing.T, layer []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(strings.NewReader(string(layer)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

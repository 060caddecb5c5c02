package image

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Media types and annotations of the OCI image layout.
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
	// annotationImageName is how `ctr images import` learns the full reference.
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

type runConfig struct {
	User       string   `json:"User,omitempty"`
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type imageConfig struct {
	Created      string    `json:"created"`
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Config       runConfig `json:"config"`
	RootFS       rootFS    `json:"rootfs"`
}

// WriteArchive writes the OCI image layout archive of spec to path (replaced
// atomically) and returns the manifest digest. The layer is staged in a
// temporary file next to path, so large binaries are never held in memory.
func WriteArchive(path string, spec Spec) (string, error) {
	if err := spec.validate(); err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	layerFile, err := os.CreateTemp(dir, ".layer-*")
	if err != nil {
		return "", fmt.Errorf("stage layer of %s: %w", spec.Ref, err)
	}
	defer os.Remove(layerFile.Name())
	defer layerFile.Close()
	layer := newDigestWriter(layerFile)
	if err := writeLayer(layer, spec.Files); err != nil {
		return "", fmt.Errorf("write layer of %s: %w", spec.Ref, err)
	}

	out, err := os.CreateTemp(dir, ".archive-*")
	if err != nil {
		return "", fmt.Errorf("create archive of %s: %w", spec.Ref, err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	digest, err := writeLayout(out, spec, layerFile, layer.digest(), layer.size)
	if err != nil {
		return "", fmt.Errorf("write archive of %s: %w", spec.Ref, err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("write archive of %s: %w", spec.Ref, err)
	}
	if err := os.Rename(out.Name(), path); err != nil {
		return "", fmt.Errorf("write archive of %s: %w", spec.Ref, err)
	}
	return digest, nil
}

// writeLayout writes oci-layout, index.json and the three blobs into a tar.
func writeLayout(w io.Writer, spec Spec, layer *os.File, layerDigest string, layerSize int64) (string, error) {
	cfg, err := json.Marshal(imageConfig{
		Created:      time.Unix(epochSeconds, 0).UTC().Format(time.RFC3339),
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Config: runConfig{
			User: spec.User, Env: spec.Env, Entrypoint: spec.Entrypoint, Cmd: spec.Cmd, WorkingDir: spec.WorkingDir,
		},
		RootFS: rootFS{Type: "layers", DiffIDs: []string{layerDigest}},
	})
	if err != nil {
		return "", err
	}
	cfgDesc := blobDescriptor(mediaTypeConfig, cfg)
	man, err := json.Marshal(manifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeManifest,
		Config:        cfgDesc,
		Layers:        []descriptor{{MediaType: mediaTypeLayer, Digest: layerDigest, Size: layerSize}},
	})
	if err != nil {
		return "", err
	}
	manDesc := blobDescriptor(mediaTypeManifest, man)
	manDesc.Annotations = map[string]string{annotationImageName: spec.Ref, annotationRefName: spec.tag()}
	idx, err := json.Marshal(index{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: []descriptor{manDesc}})
	if err != nil {
		return "", err
	}

	tw := tar.NewWriter(w)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", idx},
		{blobPath(cfgDesc.Digest), cfg},
		{blobPath(manDesc.Digest), man},
	} {
		if err := writeBytes(tw, f.name, f.data); err != nil {
			return "", err
		}
	}
	if _, err := layer.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if err := tw.WriteHeader(fileHeader(blobPath(layerDigest), layerSize)); err != nil {
		return "", err
	}
	if _, err := io.Copy(tw, layer); err != nil {
		return "", err
	}
	return manDesc.Digest, tw.Close()
}

func blobDescriptor(mediaType string, data []byte) descriptor {
	d := newDigestWriter(io.Discard)
	d.Write(data)
	return descriptor{MediaType: mediaType, Digest: d.digest(), Size: d.size}
}

func blobPath(digest string) string {
	return "blobs/" + strings.Replace(digest, ":", "/", 1)
}

func writeBytes(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(fileHeader(name, int64(len(data)))); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

func fileHeader(name string, size int64) *tar.Header {
	return &tar.Header{
		Name: name, Size: size, Mode: 0o644, Typeflag: tar.TypeReg,
		ModTime: time.Unix(epochSeconds, 0).UTC(), Format: tar.FormatPAX,
	}
}

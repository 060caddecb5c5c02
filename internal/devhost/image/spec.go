// Package image builds single-layer OCI image archives from local files, so that
// kplex-devhost can run pods without any registry: each archive is an OCI image
// layout in a tar file that `ctr images import` accepts and names.
package image

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// File is one entry of an image's only layer. Exactly one of Source, Data, Link
// or Dir describes the content.
type File struct {
	Path   string      // absolute path inside the image, e.g. "/bin/busybox"
	Mode   fs.FileMode // permission bits; 0 means 0644 for files, 0755 for directories and executables from Source
	UID    int
	GID    int
	Source string // host file whose content is copied
	Data   []byte // literal content
	Link   string // symlink target
	Dir    bool   // an (empty) directory
}

// Spec describes an image: its reference and what runs in it.
type Spec struct {
	Ref        string // full reference, e.g. "localhost/kplex/pause:v1"
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
	Files      []File
}

// validate checks what a malformed spec would otherwise turn into a broken image.
func (s *Spec) validate() error {
	if s.Ref == "" || !strings.Contains(s.Ref, ":") {
		return fmt.Errorf("image reference %q needs a tag such as :v1", s.Ref)
	}
	seen := map[string]bool{}
	for _, f := range s.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return fmt.Errorf("image %s: file path %q must be absolute and clean", s.Ref, f.Path)
		}
		if seen[f.Path] {
			return fmt.Errorf("image %s: file path %q given twice", s.Ref, f.Path)
		}
		seen[f.Path] = true
		kinds := 0
		for _, set := range []bool{f.Source != "", f.Data != nil, f.Link != "", f.Dir} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			return fmt.Errorf("image %s: file %q needs exactly one of Source, Data, Link or Dir", s.Ref, f.Path)
		}
	}
	return nil
}

// tag is the part of Ref after the last colon that follows the last slash.
func (s *Spec) tag() string {
	i := strings.LastIndex(s.Ref, ":")
	if i < strings.LastIndex(s.Ref, "/") {
		return "latest"
	}
	return s.Ref[i+1:]
}

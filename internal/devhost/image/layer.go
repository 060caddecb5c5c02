package image

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"sort"
	"time"
)

// epochSeconds is the modification time of every entry, so that the same
// inputs always give the same layer digest.
const epochSeconds = 0

// writeLayer writes the uncompressed layer tar of files to w, adding missing
// parent directories, in path order.
func writeLayer(w io.Writer, files []File) error {
	entries := withParents(files)
	tw := tar.NewWriter(w)
	for _, f := range entries {
		if err := writeEntry(tw, f); err != nil {
			return fmt.Errorf("add %s to layer: %w", f.Path, err)
		}
	}
	return tw.Close()
}

// withParents returns files plus a directory entry for every missing parent,
// sorted so that parents come before their children.
func withParents(files []File) []File {
	have := map[string]bool{}
	for _, f := range files {
		have[f.Path] = true
	}
	all := append([]File(nil), files...)
	for _, f := range files {
		for dir := path.Dir(f.Path); dir != "/" && !have[dir]; dir = path.Dir(dir) {
			have[dir] = true
			all = append(all, File{Path: dir, Dir: true})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Path < all[j].Path })
	return all
}

func writeEntry(tw *tar.Writer, f File) error {
	hdr := &tar.Header{
		Name:    f.Path[1:],
		Uid:     f.UID,
		Gid:     f.GID,
		ModTime: time.Unix(epochSeconds, 0).UTC(),
		Format:  tar.FormatPAX,
	}
	switch {
	case f.Dir:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		hdr.Mode = modeOr(f, 0o755)
		return tw.WriteHeader(hdr)
	case f.Link != "":
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = f.Link
		hdr.Mode = 0o777
		return tw.WriteHeader(hdr)
	case f.Data != nil:
		hdr.Typeflag = tar.TypeReg
		hdr.Mode = modeOr(f, 0o644)
		hdr.Size = int64(len(f.Data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(f.Data)
		return err
	default:
		return copySource(tw, hdr, f)
	}
}

func copySource(tw *tar.Writer, hdr *tar.Header, f File) error {
	src, err := os.Open(f.Source)
	if err != nil {
		return err
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", f.Source)
	}
	hdr.Typeflag = tar.TypeReg
	hdr.Mode = modeOr(f, int64(info.Mode().Perm()))
	hdr.Size = info.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, src)
	if err == nil && n != info.Size() {
		err = fmt.Errorf("%s changed while it was read", f.Source)
	}
	return err
}

// modeOr is the tar mode of f, or def when f leaves it unset.
func modeOr(f File, def int64) int64 {
	if f.Mode == 0 {
		return def
	}
	return int64(f.Mode.Perm()) | stickyBits(f)
}

// stickyBits maps Go's file mode flags to the tar (Unix) bits.
func stickyBits(f File) int64 {
	var m int64
	if f.Mode&os.ModeSticky != 0 {
		m |= 0o1000
	}
	if f.Mode&os.ModeSetgid != 0 {
		m |= 0o2000
	}
	if f.Mode&os.ModeSetuid != 0 {
		m |= 0o4000
	}
	return m
}

// digestWriter counts and hashes what is written through it.
type digestWriter struct {
	w    io.Writer
	h    hash.Hash
	size int64
}

func newDigestWriter(w io.Writer) *digestWriter { return &digestWriter{w: w, h: sha256.New()} }

func (d *digestWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	d.h.Write(p[:n])
	d.size += int64(n)
	return n, err
}

func (d *digestWriter) digest() string { return fmt.Sprintf("sha256:%x", d.h.Sum(nil)) }

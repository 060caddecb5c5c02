package pki

import (
	"crypto/x509"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func testOptions(t *testing.T) Options {
	t.Helper()
	return Options{
		Dir:         filepath.Join(t.TempDir(), "pki"),
		ClusterName: "kplex-test",
		ServiceIP:   net.ParseIP("10.96.0.1"),
		Clock:       func() time.Time { return t0 },
	}
}

func at(opts Options, t time.Time) Options {
	opts.Clock = func() time.Time { return t }
	return opts
}

func mustEnsure(t *testing.T, opts Options) *Bundle {
	t.Helper()
	b, err := Ensure(opts)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return b
}

type fileState struct {
	data []byte
	info fs.FileInfo
}

// snapshot records every file in dir; comparing two snapshots shows which
// files were rewritten (a rename gives a new inode even for equal bytes).
func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := map[string]fileState{}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		s[e.Name()] = fileState{data: data, info: info}
	}
	return s
}

// changedFiles lists the names whose content, mtime, mode or inode differ.
func changedFiles(before, after map[string]fileState) []string {
	var changed []string
	for name, a := range after {
		b, ok := before[name]
		if !ok || string(a.data) != string(b.data) || !a.info.ModTime().Equal(b.info.ModTime()) ||
			a.info.Mode() != b.info.Mode() || !os.SameFile(a.info, b.info) {
			changed = append(changed, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			changed = append(changed, name)
		}
	}
	return changed
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCert(data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return cert
}

func pool(t *testing.T, caPath string) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	p.AddCert(readCert(t, caPath))
	return p
}

func verify(t *testing.T, certPath, caPath string, usage x509.ExtKeyUsage, now time.Time) error {
	t.Helper()
	_, err := readCert(t, certPath).Verify(x509.VerifyOptions{
		Roots:       pool(t, caPath),
		KeyUsages:   []x509.ExtKeyUsage{usage},
		CurrentTime: now,
	})
	return err
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Package testenv starts real kplex processes for integration tests: the built kplexd
// binary with a temporary data dir, on a free loopback port.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Binary returns the path of a built kplex binary (KPLEX_BIN, else bin/ at the module root).
func Binary(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("KPLEX_BIN")
	if dir == "" {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			t.Fatalf("find module root: %v", err)
		}
		dir = filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "bin")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found: run `make build` first (or set KPLEX_BIN)", p)
	}
	return p
}

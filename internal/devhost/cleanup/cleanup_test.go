package cleanup

import (
	"os"
	"path/filepath"
	"testing"
)

func TestUnescapeMountPath(t *testing.T) {
	for in, want := range map[string]string{
		`/a/b`:              "/a/b",
		`/a\040b`:           "/a b",
		`/x\011y\134z`:      "/x\ty\\z",
		`/trailing\04`:      `/trailing\04`,
		`/not\999an-escape`: `/not\999an-escape`,
	} {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRemovePathsStaysBelowDataDir(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	inside := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(inside, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := RemovePaths(dir, []string{inside, outside, dir + "/../" + filepath.Base(outside)})
	if err == nil {
		t.Fatal("RemovePaths accepted a path outside the data dir")
	}
	if _, err := os.Stat(inside); !os.IsNotExist(err) {
		t.Errorf("%s still exists", inside)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("%s was removed: %v", outside, err)
	}
}

func TestRemoveCNICacheNamesOnlyOurs(t *testing.T) {
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("writes to /var/lib/cni/results: needs root, skipped with -short")
	}
	if err := os.MkdirAll(cniResultDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ours := []string{"kplextest-abc123-eth0", "cni-loopback-abc123-lo"}
	theirs := []string{"othernet-abc999-eth0", "cni-loopback-abc999-lo"}
	for _, n := range append(append([]string{}, ours...), theirs...) {
		if err := os.WriteFile(filepath.Join(cniResultDir, n), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range theirs {
			os.Remove(filepath.Join(cniResultDir, n))
		}
	})
	if err := RemoveCNICache("kplextest"); err != nil {
		t.Fatal(err)
	}
	for _, n := range ours {
		if _, err := os.Stat(filepath.Join(cniResultDir, n)); !os.IsNotExist(err) {
			t.Errorf("%s still there", n)
		}
	}
	for _, n := range theirs {
		if _, err := os.Stat(filepath.Join(cniResultDir, n)); err != nil {
			t.Errorf("%s removed", n)
		}
	}
}

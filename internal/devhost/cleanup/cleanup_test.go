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

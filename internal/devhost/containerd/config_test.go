package containerd

import (
	"strings"
	"testing"
)

func TestRenderHasRequiredSettings(t *testing.T) {
	cfg := Config{
		Root: "/d/root", State: "/d/state", Socket: "/d/c.sock", RuncRoot: "/d/runc",
		SandboxImage: "localhost/kplex/pause:v1", CNIBinDir: "/usr/lib/cni", CNIConfDir: `/d/cni "x"`,
	}
	b, err := cfg.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`restrict_oom_score_adj = true`,
		`sandbox_image = "localhost/kplex/pause:v1"`,
		`bin_dir = "/usr/lib/cni"`,
		`conf_dir = "/d/cni \"x\""`,
		`address = "/d/c.sock"`,
		`netns_mounts_under_state_dir = true`,
		`SystemdCgroup = false`,
		`path = "/d/root/opt"`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %s:\n%s", want, b)
		}
	}
	cfg.Root = ""
	if _, err := cfg.Render(); err == nil {
		t.Error("Render accepted an empty Root")
	}
}

package preflight

import (
	"errors"
	"strings"
	"testing"
)

func TestFindCommandsNamesMissingPackages(t *testing.T) {
	look := func(name string) (string, error) {
		if name == "ipset" || name == "ctr" {
			return "", errors.New("not found")
		}
		return "/usr/bin/" + name, nil
	}
	_, err := FindCommands(look)
	if err == nil {
		t.Fatal("FindCommands succeeded with ipset missing")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, want := range []string{"containerd", "ipset", InstallHint, "apt-get install"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %s", msg, want)
		}
	}
}

func TestFindCompanionExplicitMissing(t *testing.T) {
	_, err := FindCompanion("kplex-pause", "/nonexistent/kplex-pause")
	if err == nil || !strings.Contains(err.Error(), "kplex-pause") {
		t.Fatalf("err = %v", err)
	}
}

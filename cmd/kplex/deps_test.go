package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The CLI must stay a small, quick build: it never links k8s.io/kubernetes
// (the server-side code), only client libraries.
func TestNoKubernetesDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "k8s.io/kubernetes" || strings.HasPrefix(p, "k8s.io/kubernetes/") {
			t.Errorf("kplex imports %s: the CLI must not link k8s.io/kubernetes", p)
		}
	}
}

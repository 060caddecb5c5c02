package crd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestEmbeddedCRDDecodes(t *testing.T) {
	c, err := VirtualClusters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "virtualclusters.kplex.dev" || c.Spec.Scope != "Cluster" || len(c.Spec.Versions) != 1 {
		t.Fatalf("unexpected CRD: name %q scope %q versions %d", c.Name, c.Spec.Scope, len(c.Spec.Versions))
	}
	v := c.Spec.Versions[0]
	if v.Subresources == nil || v.Subresources.Status == nil {
		t.Fatal("CRD lacks the status subresource")
	}
	if len(v.Schema.OpenAPIV3Schema.XValidations) != 3 {
		t.Fatalf("want the three metadata.name rules on the root, got %v", v.Schema.OpenAPIV3Schema.XValidations)
	}
}

// TestCRDIsGenerated fails when the committed CRD is not what controller-gen makes of the
// types: run `make generate`.
func TestCRDIsGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs controller-gen: skipped under -short")
	}
	out := t.TempDir()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", controllerGen, "crd", "paths=./api/...", "output:crd:dir="+out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("controller-gen unavailable (%v): %s", err, b)
	}
	got, err := os.ReadFile(filepath.Join(out, "kplex.dev_virtualclusters.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, virtualClustersYAML) {
		t.Fatal("api/v1alpha1/crd/kplex.dev_virtualclusters.yaml is stale: run `make generate` and commit the result")
	}
}

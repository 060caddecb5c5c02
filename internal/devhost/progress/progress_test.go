package progress

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriterReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "progress")
	r := NewReader(path)
	if steps, err := r.Next(); err != nil || len(steps) != 0 {
		t.Fatalf("before the file exists: %v %v", steps, err)
	}
	w, err := NewWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Step("containerd", "pid 12"); err != nil {
		t.Fatal(err)
	}
	if err := w.Step(Failed, "line one\nline two"); err != nil {
		t.Fatal(err)
	}
	steps, err := r.Next()
	if err != nil || len(steps) != 2 {
		t.Fatalf("steps = %v, %v", steps, err)
	}
	if steps[0].Name != "containerd" || steps[0].Detail != "pid 12" || steps[1].Detail != "line one line two" {
		t.Errorf("steps = %+v", steps)
	}
	// A partial line is left for the next read.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("123\tready")
	f.Close()
	if steps, _ := r.Next(); len(steps) != 0 {
		t.Errorf("partial line returned: %v", steps)
	}
	f, _ = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("\t\n")
	f.Close()
	if steps, _ := r.Next(); len(steps) != 1 || steps[0].Name != Ready {
		t.Errorf("completed line: %v", steps)
	}
}

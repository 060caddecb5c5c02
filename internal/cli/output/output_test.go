package output

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"table": Table, "JSON": JSON, "yaml": YAML} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("wide"); err == nil || !strings.Contains(err.Error(), `"wide"`) || !strings.Contains(err.Error(), "-o yaml") {
		t.Errorf("error %v", err)
	}
}

func TestWrite(t *testing.T) {
	obj := map[string]any{"kind": "List", "items": []any{map[string]string{"name": "a"}}}
	for f, want := range map[Format]string{
		JSON: "{\n    \"items\": [\n        {\n            \"name\": \"a\"\n        }\n    ],\n    \"kind\": \"List\"\n}\n",
		YAML: "items:\n- name: a\nkind: List\n",
	} {
		var b bytes.Buffer
		if err := Write(&b, f, obj, nil); err != nil || b.String() != want {
			t.Errorf("%s: %q %v, want %q", f, b.String(), err, want)
		}
	}
	var b bytes.Buffer
	err := Write(&b, Table, obj, func(w io.Writer) error {
		tw := NewTable(w, "NAME", "PHASE", "ENDPOINT")
		tw.Row("a", "Ready", "")
		tw.Row("longer-name", "Pending", "https://x")
		return tw.Flush()
	})
	want := "NAME          PHASE     ENDPOINT\na             Ready     <none>\nlonger-name   Pending   https://x\n"
	if err != nil || b.String() != want {
		t.Errorf("table %q, want %q", b.String(), want)
	}
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	start := time.Unix(100, 0)
	now := start
	p := &Progress{w: &b, start: start, now: func() time.Time { return now }}
	p.Step("applying %d objects", 5)
	now = now.Add(1500 * time.Millisecond)
	p.Update("Pending")
	p.Update("Pending")
	now = now.Add(10 * time.Second)
	p.Update("Ready")
	want := "[   0.0s] applying 5 objects\n[   1.5s] Pending\n[  11.5s] Ready\n"
	if b.String() != want {
		t.Errorf("progress %q, want %q", b.String(), want)
	}
}

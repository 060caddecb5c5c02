package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"
)

// Format is a value of -o.
type Format string

// The formats every listing command accepts.
const (
	Table Format = "table"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// ParseFormat checks a value of -o.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case Table, JSON, YAML:
		return f, nil
	}
	return "", fmt.Errorf("unknown output format %q: use -o table, -o json or -o yaml", s)
}

// Write prints obj as JSON or YAML, or calls table for the table format.
func Write(w io.Writer, f Format, obj any, table func(io.Writer) error) error {
	switch f {
	case JSON:
		b, err := json.MarshalIndent(obj, "", "    ")
		if err != nil {
			return fmt.Errorf("encode JSON: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case YAML:
		b, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("encode YAML: %w", err)
		}
		_, err = w.Write(b)
		return err
	case Table, "":
		return table(w)
	}
	return fmt.Errorf("unknown output format %q: use -o table, -o json or -o yaml", f)
}

// TableWriter aligns columns as kubectl get does.
type TableWriter struct{ tw *tabwriter.Writer }

// NewTable writes the header row.
func NewTable(w io.Writer, headers ...string) *TableWriter {
	t := &TableWriter{tw: tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)}
	t.Row(headers...)
	return t
}

// Row adds one row; an empty cell prints as "<none>" so columns stay aligned.
func (t *TableWriter) Row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "<none>"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// Flush writes the aligned table.
func (t *TableWriter) Flush() error { return t.tw.Flush() }

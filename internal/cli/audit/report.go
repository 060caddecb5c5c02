package audit

import (
	"fmt"
	"io"
	"strings"

	"github.com/kplex-dev/kplex/internal/cli/output"
)

// Outcome is the result of one check.
type Outcome string

const (
	// Pass: the attempt was refused or could not connect, as isolation requires.
	Pass Outcome = "PASS"
	// Fail: the attempt succeeded; the evidence says what got through.
	Fail Outcome = "FAIL"
	// Skip: the check does not apply to this virtual cluster (the evidence says why).
	Skip Outcome = "SKIP"
	// Error: the check could not tell, e.g. its positive control failed.
	Error Outcome = "ERROR"
)

// Result is one row of the report.
type Result struct {
	Check    string  `json:"check"`
	Result   Outcome `json:"result"`
	Evidence string  `json:"evidence"`
}

// Report is what kplex audit prints.
type Report struct {
	VirtualCluster string         `json:"virtualCluster"`
	PodSecurity    string         `json:"podSecurity"`
	Results        []Result       `json:"results"`
	Summary        map[string]int `json:"summary"`
}

// newReport counts the outcomes of results.
func newReport(vc, level string, results []Result) Report {
	sum := map[string]int{}
	for _, o := range []Outcome{Pass, Fail, Skip, Error} {
		sum[string(o)] = 0
	}
	for _, r := range results {
		sum[string(r.Result)]++
	}
	return Report{VirtualCluster: vc, PodSecurity: level, Results: results, Summary: sum}
}

// Err is nil when no check failed or erred, else one line that says how many did and
// where the evidence is.
func (r Report) Err() error {
	fails, errs := r.Summary[string(Fail)], r.Summary[string(Error)]
	switch {
	case fails > 0:
		return fmt.Errorf("%d of %d audit checks of %s FAILED (%d could not run): the rows marked FAIL show what a tenant got through; -o json has the full evidence", fails, len(r.Results), r.VirtualCluster, errs)
	case errs > 0:
		return fmt.Errorf("%d of %d audit checks of %s could not run (ERROR): their evidence names the cause; fix it and run kplex audit %s again", errs, len(r.Results), r.VirtualCluster, r.VirtualCluster)
	}
	return nil
}

// evidenceWidth is how much evidence a table row shows; -o json has all of it.
const evidenceWidth = 140

// oneLine folds whitespace and cuts s to width runes, marking the cut.
func oneLine(s string, width int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > width {
		return string(r[:width-3]) + "..."
	}
	return s
}

// write prints the report as a table (one line per check) or as JSON.
func write(w io.Writer, f output.Format, r Report) error {
	return output.Write(w, f, r, func(w io.Writer) error {
		t := output.NewTable(w, "CHECK", "RESULT", "EVIDENCE")
		for _, res := range r.Results {
			t.Row(res.Check, string(res.Result), oneLine(res.Evidence, evidenceWidth))
		}
		if err := t.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "\n%d checks: %d PASS, %d FAIL, %d SKIP, %d ERROR\n", len(r.Results),
			r.Summary[string(Pass)], r.Summary[string(Fail)], r.Summary[string(Skip)], r.Summary[string(Error)])
		return err
	})
}

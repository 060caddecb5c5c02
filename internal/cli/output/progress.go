package output

import (
	"fmt"
	"io"
	"time"
)

// Progress prints the steps of a long operation, each with the time elapsed
// since it began, in the format kplex-devhost up uses: "[  1.2s] step".
type Progress struct {
	w     io.Writer
	start time.Time
	now   func() time.Time
	last  string
}

// NewProgress starts the clock.
func NewProgress(w io.Writer) *Progress {
	return &Progress{w: w, start: time.Now(), now: time.Now}
}

// Step prints one line.
func (p *Progress) Step(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.last = msg
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", p.Elapsed().Seconds(), msg)
}

// Update prints state only when it differs from the previous line, so that
// a poll loop shows each change once.
func (p *Progress) Update(state string) {
	if state != p.last {
		p.Step("%s", state)
	}
}

// Elapsed is the time since NewProgress.
func (p *Progress) Elapsed() time.Duration { return p.now().Sub(p.start) }

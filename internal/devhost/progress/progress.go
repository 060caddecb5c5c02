// Package progress carries the start-up steps of the devhost daemon to the
// `up` command that waits for it: the daemon appends one line per step to a
// file, `up` reads the new lines and prints them with the elapsed time.
package progress

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Final steps: the daemon writes exactly one of them last.
const (
	Ready  = "ready"
	Failed = "failed"
)

// Step is one line of the progress file.
type Step struct {
	Time   time.Time
	Name   string
	Detail string
}

// Writer appends steps to the progress file.
type Writer struct {
	mu   sync.Mutex
	path string
}

// NewWriter truncates path and returns a writer for it.
func NewWriter(path string) (*Writer, error) {
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return nil, fmt.Errorf("create progress file: %w", err)
	}
	return &Writer{path: path}, nil
}

// Step records that name was reached; detail is free text on the same line.
func (w *Writer) Step(name, detail string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	line := fmt.Sprintf("%d\t%s\t%s\n", time.Now().UnixNano(), name, oneLine(detail))
	_, err = f.WriteString(line)
	return err
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Reader returns the steps appended since its last call.
type Reader struct {
	path   string
	offset int64
}

// NewReader reads path from its beginning.
func NewReader(path string) *Reader { return &Reader{path: path} }

// Next returns the complete lines added since the previous call.
func (r *Reader) Next() ([]Step, error) {
	f, err := os.Open(r.path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(r.offset, io.SeekStart); err != nil {
		return nil, err
	}
	var steps []Step
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			break // an incomplete last line is read next time
		}
		r.offset += int64(len(line))
		if s, ok := parse(strings.TrimSuffix(line, "\n")); ok {
			steps = append(steps, s)
		}
	}
	return steps, nil
}

func parse(line string) (Step, bool) {
	parts := strings.SplitN(line, "\t", 3)
	if len(parts) != 3 {
		return Step{}, false
	}
	var ns int64
	if _, err := fmt.Sscan(parts[0], &ns); err != nil {
		return Step{}, false
	}
	return Step{Time: time.Unix(0, ns), Name: parts[1], Detail: parts[2]}, true
}

// Package output is how kplex writes to a person or a script: the IO streams
// every command receives, progress lines for long operations and the -o
// formats (table, json, yaml).
package output

import (
	"io"

	"github.com/go-logr/logr"
)

// Streams are the command's standard streams and logger, injected so that
// tests capture them and nothing writes to os.Stdout behind the caller's back.
type Streams struct {
	Out    io.Writer // results: tables, YAML, kubeconfigs
	ErrOut io.Writer // progress and notes, so that Out stays machine-readable
	Log    logr.Logger
}

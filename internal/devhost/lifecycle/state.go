// Package lifecycle implements what the kplex-devhost commands do on the
// machine: up (network, daemon, wait), down (stop and remove everything) and
// status.
package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kplex-dev/kplex/internal/devhost/layout"
)

// state is what `up` records for `down`, in the run dir.
type state struct {
	NetnsInode uint64    `json:"netnsInode"`
	CreatedAt  time.Time `json:"createdAt"`
}

func readState(l layout.Layout) (state, error) {
	var s state
	b, err := os.ReadFile(l.StateFile())
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("state file %s is corrupt: %w", l.StateFile(), err)
	}
	return s, nil
}

func writeState(l layout.Layout, s state) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(l.StateFile()), 0o700); err != nil {
		return err
	}
	return os.WriteFile(l.StateFile(), b, 0o600)
}

// lock takes an exclusive lock on the data dir so that two commands never
// change the same devhost at once. The lock file lives next to the logs,
// which `down` keeps.
func lock(l layout.Layout) (func(), error) {
	if err := os.MkdirAll(l.LogDir(), 0o700); err != nil {
		return nil, fmt.Errorf("data dir %s is not usable (%v): choose a writable --data-dir", l.DataDir, err)
	}
	f, err := os.OpenFile(filepath.Join(l.DataDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another kplex-devhost command is working on %s: wait for it to finish", l.DataDir)
	}
	return func() { f.Close() }, nil
}

package proc

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// Detached is a process started by SpawnDetached.
type Detached struct {
	Pid  int
	done chan struct{}
}

// Exited is closed if the process exits while the caller still runs.
func (d *Detached) Exited() <-chan struct{} { return d.done }

// SpawnDetached starts argv in a new session, with stdin from /dev/null and
// stdout and stderr appended to logPath, and does not wait for it: the process
// outlives the caller.
func SpawnDetached(argv []string, logPath string) (*Detached, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", logPath, err)
	}
	defer logFile.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = devNull
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	d := &Detached{Pid: cmd.Process.Pid, done: make(chan struct{})}
	// Reap it if it exits while we still run; the reason is in its log.
	go func() {
		_ = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

package proc

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// SpawnDetached starts argv in a new session, with stdin from /dev/null and
// stdout and stderr appended to logPath, and does not wait for it: the process
// outlives the caller.
func SpawnDetached(argv []string, logPath string) (int, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("open log %s: %w", logPath, err)
	}
	defer logFile.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer devNull.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = devNull
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	pid := cmd.Process.Pid
	// Reap it if it exits while we still run; it is never waited for otherwise.
	go cmd.Wait() //nolint:errcheck // the exit status is read from the daemon's log and pid file
	return pid, nil
}

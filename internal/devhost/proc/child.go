// Package proc starts, watches and stops the processes of kplex-devhost: the
// detached daemon, and the children (containerd) that the daemon owns.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// Child is a process started by this process, logging to its own file.
type Child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  logr.Logger
}

// StartChild starts argv with stdout and stderr appended to logPath.
func StartChild(name string, argv []string, logPath string, log logr.Logger) (*Child, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &Child{name: name, cmd: cmd, done: make(chan struct{}), log: log.WithValues("process", name, "pid", cmd.Process.Pid)}
	c.log.Info("Started process", "log", logPath)
	go func() {
		c.err = cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	return c, nil
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Done is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Err tells how the child exited, once Done is closed.
func (c *Child) Err() error {
	select {
	case <-c.done:
		if c.err == nil {
			return fmt.Errorf("%s exited", c.name)
		}
		return fmt.Errorf("%s exited: %w", c.name, c.err)
	default:
		return nil
	}
}

// Stop sends SIGTERM, waits up to grace, then kills. Calling it again is harmless.
func (c *Child) Stop(grace time.Duration) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", c.name, err)
	}
	select {
	case <-c.done:
		c.log.Info("Stopped process")
		return nil
	case <-time.After(grace):
	}
	c.log.Info("Process ignored SIGTERM, killing it", "grace", grace)
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", c.name, err)
	}
	<-c.done
	return nil
}

package containerd

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"

	"github.com/kplex-dev/kplex/internal/devhost/proc"
)

// Runtime is a running containerd owned by this process.
type Runtime struct {
	cfg    Config
	binary string
	child  *proc.Child
	log    logr.Logger
}

// Start writes the configuration to configPath, starts the containerd binary
// with its output in logPath, and waits until its socket answers.
func Start(ctx context.Context, binary string, cfg Config, configPath, logPath string, log logr.Logger) (*Runtime, error) {
	for _, dir := range []string{cfg.Root, cfg.State, cfg.RuncRoot, cfg.CNIConfDir, filepath.Dir(cfg.Socket)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create containerd directory: %w", err)
		}
	}
	if err := cfg.Write(configPath); err != nil {
		return nil, fmt.Errorf("write containerd config: %w", err)
	}
	// A socket left by a killed containerd would make the readiness check lie.
	if err := os.Remove(cfg.Socket); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("remove stale containerd socket: %w", err)
	}
	child, err := proc.StartChild("containerd", []string{binary, "--config", configPath}, logPath, log)
	if err != nil {
		return nil, err
	}
	r := &Runtime{cfg: cfg, binary: binary, child: child, log: log}
	if err := r.waitSocket(ctx, 30*time.Second); err != nil {
		_ = child.Stop(5 * time.Second)
		return nil, fmt.Errorf("containerd did not start (see %s): %w", logPath, err)
	}
	return r, nil
}

func (r *Runtime) waitSocket(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("unix", r.cfg.Socket, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if exited := r.child.Err(); exited != nil {
			return exited
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("socket %s not ready after %s: %w", r.cfg.Socket, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Pid is containerd's process id.
func (r *Runtime) Pid() int { return r.child.Pid() }

// Endpoint is the CRI endpoint for the kubelet.
func (r *Runtime) Endpoint() string { return "unix://" + r.cfg.Socket }

// Done is closed when containerd exits; Err tells why.
func (r *Runtime) Done() <-chan struct{} { return r.child.Done() }

// Err is why containerd exited, or nil while it runs.
func (r *Runtime) Err() error { return r.child.Err() }

// Stop stops containerd; its shims and containers keep running.
func (r *Runtime) Stop() error { return r.child.Stop(10 * time.Second) }

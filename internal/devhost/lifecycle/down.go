package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/kplex-dev/kplex/internal/devhost/cleanup"
	"github.com/kplex-dev/kplex/internal/devhost/containerd"
	"github.com/kplex-dev/kplex/internal/devhost/layout"
	"github.com/kplex-dev/kplex/internal/devhost/netns"
	"github.com/kplex-dev/kplex/internal/devhost/proc"
)

// daemonMarks identify the daemon's command line (against recycled pids).
func daemonMarks() []string { return []string{"kplex-devhost", "daemon"} }

// daemonStopTimeout is how long the daemon gets to remove its pods and stop.
const daemonStopTimeout = 60 * time.Second

// Down stops the devhost of l and removes everything it made, keeping only
// the logs. It also cleans up after a crashed devhost. It is safe to run when
// nothing is there.
func Down(ctx context.Context, l layout.Layout, tools netns.Tools, out io.Writer, log logr.Logger) error {
	unlock, err := lock(l)
	if err != nil {
		return err
	}
	defer unlock()
	return down(ctx, l, tools, out, log)
}

func down(ctx context.Context, l layout.Layout, tools netns.Tools, out io.Writer, log logr.Logger) error {
	start := time.Now()
	st, err := readState(l)
	if err != nil {
		return err
	}
	if err := stopDaemon(ctx, l, out); err != nil {
		return err
	}
	own := netns.Inspect()
	live, _ := netns.Inode(layout.NetnsPath)
	ours := own.Owner == l.DataDir || (st.NetnsInode != 0 && live == st.NetnsInode) || (!own.NetnsExists && !own.VethExists)
	ino := st.NetnsInode
	if ours && live != 0 {
		ino = live
	}
	if survivors, err := cleanup.KillAll(ctx, ino, layout.CgroupRoot, 15*time.Second); err != nil {
		return fmt.Errorf("stop devhost processes: %w", err)
	} else if len(survivors) == 0 {
		log.V(1).Info("No devhost process left")
	}
	var errs []error
	if err := cleanup.UnmountAll(l.DataDir); err != nil {
		errs = append(errs, err)
	}
	if ours {
		if err := netns.New(tools, log).Delete(ctx); err != nil {
			errs = append(errs, fmt.Errorf("remove network: %w", err))
		}
	} else {
		fmt.Fprintf(out, "network namespace %s belongs to %q, not to %s: left alone\n", layout.NetnsName, own.Owner, l.DataDir)
	}
	if err := cleanup.RemoveCgroups(layout.CgroupRoot); err != nil {
		errs = append(errs, err)
	}
	if err := cleanup.RemoveCNICache(layout.CNINetworkName); err != nil {
		errs = append(errs, err)
	}
	if err := cleanup.RemoveLogLinks(l.PodLogDir()); err != nil {
		errs = append(errs, err)
	}
	if err := cleanup.RemoveShimSockets(l.ContainerdSocket(), containerd.Namespace, l.ContainerdTaskDir(containerd.Namespace)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := cleanup.RemovePaths(l.DataDir, l.StatePaths()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("devhost partly removed: %w; fix that and run kplex-devhost down again", err)
	}
	fmt.Fprintf(out, "devhost removed (%s); logs kept in %s\n", time.Since(start).Round(10*time.Millisecond), l.LogDir())
	return nil
}

// stopDaemon asks the daemon to remove its pods and stop, and kills it if it
// does not within daemonStopTimeout.
func stopDaemon(ctx context.Context, l layout.Layout, out io.Writer) error {
	pid, err := proc.ReadPidFile(l.PidFile())
	if err != nil {
		return err
	}
	if !proc.Running(pid, daemonMarks()...) {
		return nil
	}
	fmt.Fprintf(out, "stopping devhost daemon (pid %d) and its pods\n", pid)
	if err := proc.Signal(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop daemon: %w", err)
	}
	deadline := time.Now().Add(daemonStopTimeout)
	for proc.Running(pid, daemonMarks()...) {
		if time.Now().After(deadline) {
			fmt.Fprintf(out, "daemon did not stop within %s; killing it\n", daemonStopTimeout)
			return proc.Signal(pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

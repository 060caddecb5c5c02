package lifecycle

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/kplex-dev/kplex/internal/devhost/layout"
	"github.com/kplex-dev/kplex/internal/devhost/netns"
	"github.com/kplex-dev/kplex/internal/devhost/preflight"
	"github.com/kplex-dev/kplex/internal/devhost/proc"
	"github.com/kplex-dev/kplex/internal/devhost/progress"
)

// UpOptions configure Up.
type UpOptions struct {
	Layout       layout.Layout
	Tools        preflight.Paths
	Self         string // this executable, run again inside the namespace as the daemon
	PauseBinary  string
	KplexdBinary string // empty: no kplexd image
	Timeout      time.Duration
	Verbosity    int
}

// Up starts the devhost and returns once its node is Ready. A running devhost
// is left as it is; the remains of a crashed one are removed first.
func Up(ctx context.Context, o UpOptions, out io.Writer, log logr.Logger) error {
	start := time.Now()
	l := o.Layout
	unlock, err := lock(l)
	if err != nil {
		return err
	}
	defer unlock()
	tools := netns.Tools{IP: o.Tools["ip"], Nft: o.Tools["nft"]}

	if pid, _ := proc.ReadPidFile(l.PidFile()); proc.Running(pid, daemonMarks()...) {
		fmt.Fprintf(out, "devhost already running (pid %d)\nkubeconfig: %s\n", pid, l.Kubeconfig())
		return nil
	}
	own := netns.Inspect()
	st, _ := readState(l)
	if own.NetnsExists || own.VethExists {
		if own.Owner != l.DataDir && st.NetnsInode == 0 {
			return inUseError(own)
		}
	}
	if own.NetnsExists || own.VethExists || st.NetnsInode != 0 {
		fmt.Fprintln(out, "removing the remains of a previous devhost run")
		if err := down(ctx, l, tools, out, log); err != nil {
			return err
		}
	}
	if err := netns.CheckAddressesFree(); err != nil {
		return err
	}
	if err := os.MkdirAll(l.RunDir(), 0o700); err != nil {
		return err
	}
	// The data dir is traversed by container processes that run as other users.
	if err := os.Chmod(l.DataDir, 0o711); err != nil {
		return err
	}

	ino, err := netns.New(tools, log).Create(ctx, l.DataDir)
	if err != nil {
		return fmt.Errorf("create devhost network: %w", err)
	}
	if err := writeState(l, state{NetnsInode: ino, CreatedAt: time.Now()}); err != nil {
		return err
	}
	printStep(out, start, "network namespace "+layout.NetnsName, fmt.Sprintf("node %s, machine %s", layout.NodeIP, layout.HostIP))

	if err := os.Remove(l.ProgressFile()); err != nil && !os.IsNotExist(err) {
		return err
	}
	daemon, err := proc.SpawnDetached(daemonArgv(o), l.DaemonLog())
	if err != nil {
		return fmt.Errorf("start devhost daemon: %w", err)
	}
	printStep(out, start, "daemon started", fmt.Sprintf("pid %d, log %s", daemon.Pid, l.DaemonLog()))
	if err := waitReady(ctx, o, daemon, start, out); err != nil {
		fmt.Fprintf(out, "removing the failed devhost (logs stay in %s)\n", l.LogDir())
		if derr := down(context.WithoutCancel(ctx), l, tools, io.Discard, log); derr != nil {
			fmt.Fprintf(out, "cleanup failed too: %v\n", derr)
		}
		return err
	}
	fmt.Fprintf(out, "devhost ready in %s\nkubeconfig: %s\n  export KUBECONFIG=%s\n",
		time.Since(start).Round(10*time.Millisecond), l.Kubeconfig(), l.Kubeconfig())
	return nil
}

func inUseError(own netns.Ownership) error {
	who := "something other than kplex-devhost"
	if own.Owner != "" {
		who = "the devhost with --data-dir " + own.Owner
	}
	if own.NetnsExists {
		return fmt.Errorf("network namespace %s is in use by %s: run kplex-devhost down with that --data-dir, or ip netns delete %s", layout.NetnsName, who, layout.NetnsName)
	}
	return fmt.Errorf("network interface %s is in use by %s: run kplex-devhost down with that --data-dir, or ip link delete %s", layout.HostVeth, who, layout.HostVeth)
}

// daemonArgv runs this executable as the daemon inside the devhost network
// namespace. nsenter enters only the network namespace: the daemon shares the
// machine's mount namespace, so containerd sees the kubelet's volume mounts.
func daemonArgv(o UpOptions) []string {
	argv := []string{
		o.Tools["nsenter"], "--net=" + layout.NetnsPath, "--",
		o.Self, "daemon", "--data-dir", o.Layout.DataDir, "--pause-binary", o.PauseBinary,
		fmt.Sprintf("--v=%d", o.Verbosity),
	}
	if o.KplexdBinary != "" {
		argv = append(argv, "--kplexd-binary", o.KplexdBinary)
	}
	return argv
}

// waitReady prints the daemon's progress until it is ready, fails or dies.
func waitReady(ctx context.Context, o UpOptions, daemon *proc.Detached, start time.Time, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	r := progress.NewReader(o.Layout.ProgressFile())
	last := "daemon started"
	for {
		steps, err := r.Next()
		if err != nil {
			return err
		}
		for _, s := range steps {
			switch s.Name {
			case progress.Ready:
				return nil
			case progress.Failed:
				return fmt.Errorf("devhost failed after %q: %s (log: %s)", last, s.Detail, o.Layout.DaemonLog())
			}
			printStep(out, start, s.Name, s.Detail)
			last = s.Name
		}
		select {
		case <-daemon.Exited():
			if steps, _ := r.Next(); len(steps) > 0 && steps[len(steps)-1].Name == progress.Failed {
				return fmt.Errorf("devhost failed after %q: %s (log: %s)", last, steps[len(steps)-1].Detail, o.Layout.DaemonLog())
			}
			return fmt.Errorf("devhost daemon exited after %q: %s (log: %s)", last, lastLogLine(o.Layout.DaemonLog()), o.Layout.DaemonLog())
		case <-ctx.Done():
			return fmt.Errorf("devhost not ready after %s, last step %q: see %s, or raise --timeout", o.Timeout, last, o.Layout.DaemonLog())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func printStep(out io.Writer, start time.Time, name, detail string) {
	if detail != "" {
		detail = " (" + detail + ")"
	}
	fmt.Fprintf(out, "[%6.1fs] %s%s\n", time.Since(start).Seconds(), name, detail)
}

// lastLogLine is the last non-empty line of a log, for a one-line error.
func lastLogLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no log"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

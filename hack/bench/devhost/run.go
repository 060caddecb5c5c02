package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type options struct {
	bin, out, dataDir string
	runs, pods        int
	sequential        int
	idle              time.Duration
	podsOnly          bool
}

type results struct {
	up          []time.Duration
	sequential  []time.Duration
	podLatency  []time.Duration
	idle        memory
	idleSeconds time.Duration
}

func run(ctx context.Context, o options) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the devhost needs root: run with sudo")
	}
	dh := devhost{bin: filepath.Join(o.bin, "kplex-devhost"), dataDir: o.dataDir}
	if _, err := os.Stat(dh.bin); err != nil {
		return fmt.Errorf("%s not built: run make build", dh.bin)
	}
	var r results
	if o.podsOnly {
		return measurePods(ctx, o, &r)
	}
	// Each run starts from nothing, as a user's first `up` does.
	for i := 0; i < o.runs; i++ {
		_ = dh.cmd(ctx, "down")
		d, err := dh.up(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("up %d: %s\n", i+1, d.Round(time.Millisecond))
		r.up = append(r.up, d)
		if i < o.runs-1 {
			if err := dh.cmd(ctx, "down"); err != nil {
				return err
			}
		}
	}
	defer dh.cmd(context.WithoutCancel(ctx), "down") //nolint:errcheck // best effort at the end

	fmt.Printf("idle for %s\n", o.idle)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.idle):
	}
	ino, err := netnsInode()
	if err != nil {
		return err
	}
	if r.idle, err = devhostMemory(ino); err != nil {
		return err
	}
	r.idleSeconds = o.idle

	if err := measurePods(ctx, o, &r); err != nil {
		return err
	}
	return write(o.out, r, o)
}

// measurePods runs the pod start-up measurement against the devhost at o.dataDir.
func measurePods(ctx context.Context, o options, r *results) error {
	rc, err := clientcmd.BuildConfigFromFlags("", filepath.Join(o.dataDir, "kubeconfig"))
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = 100, 200
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	if err := createNamespace(ctx, client); err != nil {
		return err
	}
	if r.sequential, err = podSequential(ctx, client, o.sequential); err != nil {
		return err
	}
	fmt.Printf("pods one at a time: p50 %s max %s\n", percentile(r.sequential, .5), percentile(r.sequential, 1))
	if r.podLatency, err = podStartup(ctx, client, o.pods); err != nil {
		return err
	}
	fmt.Printf("pods at once: p50 %s p99 %s\n", percentile(r.podLatency, .5), percentile(r.podLatency, .99))
	return nil
}

// devhost runs kplex-devhost commands against one data dir.
type devhost struct{ bin, dataDir string }

func (d devhost) cmd(ctx context.Context, args ...string) error {
	c := exec.CommandContext(ctx, d.bin, append(args, "--data-dir", d.dataDir)...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return fmt.Errorf("kplex-devhost %v: %w\n%s", args, err, out.String())
	}
	return nil
}

// up times `kplex-devhost up`, which returns when the node is Ready.
func (d devhost) up(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	err := d.cmd(ctx, "up")
	return time.Since(start), err
}

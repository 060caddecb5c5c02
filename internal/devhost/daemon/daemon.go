// Package daemon is the devhost's long-running process. It runs inside the
// devhost network namespace and owns everything that runs there: containerd
// as a child process, and in this process the control plane, the kubelet,
// kube-proxy, the network policy controller, the volume provisioner and the
// stand-in outside services.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplex-dev/kplex/internal/controlplane"
	"github.com/kplex-dev/kplex/internal/devhost/containerd"
	"github.com/kplex-dev/kplex/internal/devhost/layout"
	"github.com/kplex-dev/kplex/internal/devhost/preflight"
	"github.com/kplex-dev/kplex/internal/devhost/proc"
	"github.com/kplex-dev/kplex/internal/devhost/progress"
)

// Progress steps, in order.
const (
	StepContainerd   = "containerd running"
	StepImages       = "images imported"
	StepAPIServer    = "API server ready"
	StepNode         = "node registered"
	StepPodNetwork   = "pod network configured"
	StepAddons       = "network policy and storage running"
	StepNodeReady    = "node Ready"
	shutdownDeadline = 45 * time.Second
	// controlPlaneStopDeadline bounds the control plane's graceful stop: `down`
	// deletes its datastore right after, so waiting longer buys nothing.
	controlPlaneStopDeadline = 2 * time.Second
)

// Options configure the daemon.
type Options struct {
	Layout       layout.Layout
	Tools        preflight.Paths
	PauseBinary  string
	KplexdBinary string // empty: no kplexd image
	Verbosity    int
}

type daemon struct {
	opts     Options
	l        layout.Layout
	log      logr.Logger
	progress *progress.Writer
	failures chan error // a component that stops on its own reports here

	runtime      *containerd.Runtime
	laterImports chan error // result of the background image imports
	cp           *controlplane.ControlPlane
	stopNode     context.CancelFunc
	client       kubernetes.Interface
	startedAt    time.Time
}

// Run starts everything, reports each step to the progress file, and serves
// until ctx ends (SIGTERM from `down`) or a component fails; then it removes
// every pod and stops.
func Run(ctx context.Context, opts Options, log logr.Logger) error {
	d := &daemon{opts: opts, l: opts.Layout, log: log, failures: make(chan error, 8), startedAt: time.Now()}
	if err := proc.WritePidFile(d.l.PidFile()); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	pw, err := progress.NewWriter(d.l.ProgressFile())
	if err != nil {
		return err
	}
	d.progress = pw
	err = d.start(ctx)
	if err == nil {
		d.step(progress.Ready, fmt.Sprintf("in %s", time.Since(d.startedAt).Round(time.Millisecond)))
		log.Info("Devhost ready", "elapsed", time.Since(d.startedAt))
		err = d.serve(ctx)
	}
	if err != nil {
		log.Error(err, "Devhost failed")
		d.step(progress.Failed, err.Error())
	}
	d.shutdown()
	return err
}

func (d *daemon) step(name, detail string) {
	if err := d.progress.Step(name, detail); err != nil {
		d.log.Error(err, "Cannot write progress file", "step", name)
	}
}

// start brings the devhost up, one phase after the other.
func (d *daemon) start(ctx context.Context) error {
	if err := setSysctls(); err != nil {
		return err
	}
	if err := createCgroupRoot(layout.CgroupRoot); err != nil {
		return err
	}
	if err := d.startStandins(ctx); err != nil {
		return err
	}
	if err := d.startRuntime(ctx); err != nil {
		return err
	}
	if err := d.startControlPlane(ctx); err != nil {
		return err
	}
	if err := d.startNode(ctx); err != nil {
		return err
	}
	if err := d.startAddons(ctx); err != nil {
		return err
	}
	return d.awaitImports(ctx)
}

// startRuntime builds the images, starts containerd and imports the images
// pods need at once; the kplexd image, large and needed only later, is
// imported in the background (see awaitImports).
func (d *daemon) startRuntime(ctx context.Context) error {
	archives, err := d.buildImages(d.l.ImageDir())
	if err != nil {
		return err
	}
	now, later := archives.node, archives.extra
	rt, err := containerd.Start(ctx, d.opts.Tools["containerd"], containerd.Config{
		Root:         d.l.ContainerdRoot(),
		State:        d.l.ContainerdState(),
		Socket:       d.l.ContainerdSocket(),
		RuncRoot:     d.l.RuncRoot(),
		SandboxImage: pauseRef(),
		CNIBinDir:    preflight.CNIBinDir,
		CNIConfDir:   d.l.CNIConfDir(),
	}, d.l.ContainerdConfig(), d.l.ContainerdLog(), d.log.WithName("containerd"))
	if err != nil {
		return err
	}
	d.runtime = rt
	d.step(StepContainerd, fmt.Sprintf("pid %d", rt.Pid()))
	if err := d.importImages(ctx, d.l.ContainerdSocket(), now); err != nil {
		return err
	}
	d.step(StepImages, fmt.Sprintf("%d images", len(now)))
	d.laterImports = make(chan error, 1)
	go func() { d.laterImports <- d.importImages(ctx, d.l.ContainerdSocket(), later) }()
	return nil
}

// awaitImports waits for the background imports started by startRuntime.
func (d *daemon) awaitImports(ctx context.Context) error {
	select {
	case err := <-d.laterImports:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startControlPlane runs the kplex control plane in its host profile.
func (d *daemon) startControlPlane(ctx context.Context) error {
	cp, err := controlplane.New(controlplane.Config{
		Name:             "devhost",
		DataDir:          d.l.ControlPlaneDir(),
		BindAddress:      "0.0.0.0",
		SecurePort:       layout.APIPort,
		AdvertiseAddress: layout.NodeIP,
		TLSSANs:          []string{"localhost", "127.0.0.1", layout.NodeIP},
		ServiceCIDR:      layout.ServiceCIDR,
		ClusterCIDR:      layout.ClusterCIDR,
		Profile:          controlplane.ProfileHost,
		Verbosity:        d.opts.Verbosity,
	}, d.log.WithName("controlplane"))
	if err != nil {
		return err
	}
	if err := cp.Init(ctx); err != nil {
		return fmt.Errorf("initialise control plane: %w", err)
	}
	d.cp = cp
	if err := cp.Start(ctx); err != nil {
		return fmt.Errorf("start control plane: %w", err)
	}
	if err := cp.Ready(ctx); err != nil {
		return err
	}
	go func() {
		<-cp.Done()
		d.failures <- fmt.Errorf("control plane: %w", cp.Err())
	}()
	if err := d.writeMachineKubeconfig(); err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cp.AdminKubeconfig())
	if err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	if d.client, err = kubernetes.NewForConfig(rc); err != nil {
		return err
	}
	d.step(StepAPIServer, layout.APIServerURL)
	return nil
}

// serve waits for the end: a signal, or a component that stopped.
func (d *daemon) serve(ctx context.Context) error {
	select {
	case <-ctx.Done():
		d.log.Info("Shutting down", "reason", context.Cause(ctx))
		return nil
	case err := <-d.failures:
		return err
	case <-d.runtime.Done():
		return fmt.Errorf("containerd stopped: %w (see %s)", d.runtime.Err(), d.l.ContainerdLog())
	}
}

// shutdown stops the kubelet, removes every pod through the CRI (so that the
// CNI plugins release addresses and nothing stays mounted), then stops
// containerd and the control plane.
func (d *daemon) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownDeadline)
	defer cancel()
	if d.stopNode != nil {
		d.stopNode()
	}
	if d.runtime != nil {
		n, err := d.runtime.RemoveAllPods(ctx)
		if err != nil {
			d.log.Error(err, "Some pods were not removed; down removes what is left")
		}
		d.log.Info("Removed pods", "count", n)
		if err := d.runtime.Stop(); err != nil {
			d.log.Error(err, "Stop containerd")
		}
	}
	if d.cp != nil {
		// The control plane's own stop may outlast the deadline: do not wait for it.
		stopped := make(chan error, 1)
		go func() { stopped <- d.cp.Stop(ctx) }()
		select {
		case err := <-stopped:
			if err != nil && !errors.Is(err, context.Canceled) {
				d.log.Error(err, "Stop control plane")
			}
		case <-time.After(controlPlaneStopDeadline):
			d.log.Info("Control plane still stopping; exiting anyway", "waited", controlPlaneStopDeadline)
		}
	}
	d.log.Info("Devhost stopped")
}

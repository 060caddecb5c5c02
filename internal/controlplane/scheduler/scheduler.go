// Package scheduler runs the upstream kube-scheduler in this process (host profile only:
// a virtual cluster's pods are scheduled by its host).
package scheduler

import (
	"context"
	"fmt"

	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"

	"github.com/kplex-dev/kplex/internal/controlplane/component"
	"github.com/kplex-dev/kplex/internal/controlplane/flags"
)

// Scheduler is one kube-scheduler.
type Scheduler struct {
	cfg flags.SchedulerConfig
	*component.Runner
}

// New returns a stopped scheduler.
func New(cfg flags.SchedulerConfig) *Scheduler {
	return &Scheduler{cfg: cfg}
}

// Start validates the flags and schedules in the background.
func (s *Scheduler) Start(ctx context.Context) error {
	opts := options.NewOptions()
	if err := component.Parse("kube-scheduler", *opts.Flags, flags.Scheduler(s.cfg), "--scheduler-arg"); err != nil {
		return err
	}
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("scheduler feature gates: %w", err)
	}
	cc, sched, err := app.Setup(ctx, opts)
	if err != nil {
		return fmt.Errorf("invalid --scheduler-arg: %w", err)
	}
	s.Runner = component.Go(ctx, "kube-scheduler", func(ctx context.Context) error {
		return app.Run(ctx, cc, sched)
	})
	return nil
}

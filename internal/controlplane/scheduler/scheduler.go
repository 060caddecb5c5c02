// Package scheduler runs the upstream kube-scheduler in this process (host profile only:
// a virtual cluster's pods are scheduled by its host).
package scheduler

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"

	"github.com/kplex-dev/kplex/internal/controlplane/component"
	"github.com/kplex-dev/kplex/internal/controlplane/flags"
)

// Scheduler is one kube-scheduler.
type Scheduler struct {
	cfg flags.SchedulerConfig
	log logr.Logger
	*component.Runner
}

// New returns a stopped scheduler.
func New(cfg flags.SchedulerConfig, log logr.Logger) *Scheduler {
	return &Scheduler{cfg: cfg, log: log}
}

// Start validates the flags and schedules in the background.
func (s *Scheduler) Start(ctx context.Context) error {
	opts := options.NewOptions()
	fs := pflag.NewFlagSet("kube-scheduler", pflag.ContinueOnError)
	for _, f := range opts.Flags.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(flags.Scheduler(s.cfg)); err != nil {
		return fmt.Errorf("invalid --scheduler-arg: %w", err)
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

// Package controllermanager runs the upstream kube-controller-manager in this process.
package controllermanager

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"

	"github.com/kplex-dev/kplex/internal/controlplane/component"
	"github.com/kplex-dev/kplex/internal/controlplane/flags"
)

// ControllerManager is one kube-controller-manager.
type ControllerManager struct {
	cfg flags.ControllerManagerConfig
	log logr.Logger
	*component.Runner
}

// New returns a stopped controller manager.
func New(cfg flags.ControllerManagerConfig, log logr.Logger) *ControllerManager {
	return &ControllerManager{cfg: cfg, log: log}
}

// Start validates the flags and runs the controllers in the background.
func (m *ControllerManager) Start(ctx context.Context) error {
	opts, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return fmt.Errorf("controller manager options: %w", err)
	}
	known, disabled, aliases := app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases()
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	for _, f := range opts.Flags(known, disabled, aliases).FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(flags.ControllerManager(m.cfg)); err != nil {
		return fmt.Errorf("invalid --controller-manager-arg: %w", err)
	}
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("controller manager feature gates: %w", err)
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	c, err := opts.Config(ctx, known, disabled, aliases)
	if err != nil {
		return fmt.Errorf("invalid --controller-manager-arg: %w", err)
	}
	completed := c.Complete()
	m.Runner = component.Go(ctx, "kube-controller-manager", func(ctx context.Context) error {
		return app.Run(ctx, completed)
	})
	return nil
}

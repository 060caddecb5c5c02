// Package controllermanager runs the upstream kube-controller-manager in this process.
package controllermanager

import (
	"context"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"

	"github.com/kplex-dev/kplex/internal/controlplane/component"
	"github.com/kplex-dev/kplex/internal/controlplane/flags"
)

// ControllerManager is one kube-controller-manager.
type ControllerManager struct {
	cfg flags.ControllerManagerConfig
	*component.Runner
}

// New returns a stopped controller manager.
func New(cfg flags.ControllerManagerConfig) *ControllerManager {
	return &ControllerManager{cfg: cfg}
}

// Start validates the flags and runs the controllers in the background.
func (m *ControllerManager) Start(ctx context.Context) error {
	opts, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return fmt.Errorf("controller manager options: %w", err)
	}
	known, disabled, aliases := app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases()
	if err := component.Parse("kube-controller-manager", opts.Flags(known, disabled, aliases), flags.ControllerManager(m.cfg), "--controller-manager-arg"); err != nil {
		return err
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

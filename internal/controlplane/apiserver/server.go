// Package apiserver runs the upstream kube-apiserver in this process.
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/kplex-dev/kplex/internal/controlplane/component"
	"github.com/kplex-dev/kplex/internal/controlplane/flags"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// Server is one kube-apiserver.
type Server struct {
	cfg flags.APIServerConfig
	*component.Runner
}

// New returns a stopped server.
func New(cfg flags.APIServerConfig) *Server {
	return &Server{cfg: cfg}
}

// Start parses the flags, binds the secure port and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	opts := options.NewServerRunOptions()
	if err := component.Parse("kube-apiserver", opts.Flags(), flags.APIServer(s.cfg), "--apiserver-arg"); err != nil {
		return err
	}
	if err := opts.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("apiserver feature gates: %w", err)
	}
	// Bind before anything else so a port in use fails at once, not after a minute of setup.
	addr := net.JoinHostPort(opts.SecureServing.BindAddress.String(), strconv.Itoa(opts.SecureServing.BindPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (%v): choose a free --secure-port or stop what uses it", addr, unwrapSyscall(err))
	}
	opts.SecureServing.Listener = ln
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	completed, err := opts.Complete(ctx)
	if err != nil {
		ln.Close()
		return fmt.Errorf("apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		ln.Close()
		return fmt.Errorf("invalid --apiserver-arg: %w", utilerrors.NewAggregate(errs))
	}
	s.Runner = component.Go(ctx, "kube-apiserver", func(ctx context.Context) error {
		return app.Run(ctx, completed)
	})
	return nil
}

func unwrapSyscall(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// Package apiserver runs the upstream kube-apiserver in this process.
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"

	"github.com/kplex-dev/kplex/internal/activity"
	"github.com/kplex-dev/kplex/internal/admission"
	"github.com/kplex-dev/kplex/internal/controlplane/component"
	"github.com/kplex-dev/kplex/internal/controlplane/flags"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// Server is one kube-apiserver.
type Server struct {
	cfg      flags.APIServerConfig
	tenant   *admission.Config
	activity *activity.Tracker
	*component.Runner
}

// New returns a stopped server. A non-nil tenant compiles in the tenant policy plugin
// (enable it with cfg.AdmissionPlugins): a virtual cluster's tenant cannot remove it, as
// it is no object in the cluster.
// A non-nil tracker records the requests that count as the tenant's activity.
func New(cfg flags.APIServerConfig, tenant *admission.Config, tracker *activity.Tracker) *Server {
	return &Server{cfg: cfg, tenant: tenant, activity: tracker}
}

// Start parses the flags, binds the secure port and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	opts := options.NewServerRunOptions()
	if s.tenant != nil {
		registerTenantPolicy(opts, *s.tenant)
	}
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
		return s.run(ctx, completed)
	})
	return nil
}

// run is app.Run, with the activity tracker inside the aggregator's handler chain: the
// aggregator fronts every API (built-in, CRDs, aggregated), and its inner handler runs
// after authentication, so the tracker sees who asked.
func (s *Server) run(ctx context.Context, opts options.CompletedOptions) error {
	if s.activity == nil {
		return app.Run(ctx, opts)
	}
	if opts.InformerName == nil {
		name, err := cache.NewInformerName("kube-apiserver")
		if err != nil {
			return err
		}
		opts.InformerName = name
	}
	config, err := app.NewConfig(opts)
	if err != nil {
		return err
	}
	generic := config.Aggregator.GenericConfig
	build := generic.BuildHandlerChainFunc
	generic.BuildHandlerChainFunc = func(h http.Handler, c *genericapiserver.Config) http.Handler {
		return build(s.activity.Wrap(h), c)
	}
	completed, err := config.Complete()
	if err != nil {
		return err
	}
	server, err := app.CreateServerChain(completed)
	if err != nil {
		return err
	}
	prepared, err := server.PrepareRun()
	if err != nil {
		return err
	}
	return prepared.Run(ctx)
}

func unwrapSyscall(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// registerTenantPolicy adds the tenant policy to the plugin registry, right after
// PodSecurity: plugins not in the recommended order never run, even when enabled.
func registerTenantPolicy(opts *options.ServerRunOptions, cfg admission.Config) {
	g := opts.Admission.GenericAdmission
	admission.Register(g.Plugins, cfg, legacyscheme.Scheme)
	i := slices.Index(g.RecommendedPluginOrder, "PodSecurity") + 1 // 0 if absent: run first
	g.RecommendedPluginOrder = slices.Insert(slices.Clone(g.RecommendedPluginOrder), i, admission.PluginName)
}

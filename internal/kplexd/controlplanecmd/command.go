// Package controlplanecmd is `kplexd controlplane`: flags in, one running control plane out.
package controlplanecmd

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/kplex-dev/kplex/internal/controlplane"
	"github.com/kplex-dev/kplex/internal/controlplane/args"
	"github.com/kplex-dev/kplex/internal/kplexd/debugserver"
	"github.com/kplex-dev/kplex/internal/kplexd/memtrim"
)

// stopTimeout keeps shutdown inside the 10 s promised to whoever sent SIGTERM, with a margin.
const stopTimeout = 8 * time.Second

// trimDelay lets the controllers finish their first sync before startup memory is given back.
const trimDelay = 20 * time.Second

type flags struct {
	cfg            controlplane.Config
	debugAddress   string
	profile        string
	apiserverArgs  []string
	controllerArgs []string
	schedulerArgs  []string
	sync           syncFlags
}

// NewCommand returns the controlplane subcommand.
func NewCommand(log logr.Logger) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "controlplane",
		Short: "Run a Kubernetes control plane (datastore, API server, controllers) in this process",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.complete()
			if err != nil {
				return err
			}
			if f.debugAddress != "" {
				if err := debugserver.Start(cmd.Context(), f.debugAddress); err != nil {
					return err
				}
			}
			sync, err := f.sync.complete(cfg)
			if err != nil {
				return err
			}
			return Run(cmd.Context(), cfg, sync, log)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.cfg.Name, "name", "kplex", "cluster name, used in certificates and kubeconfig contexts")
	fs.StringVar(&f.cfg.DataDir, "data-dir", "/var/lib/kplex", "directory for certificates, kubeconfigs and the embedded datastore")
	fs.StringVar(&f.cfg.BindAddress, "bind-address", "127.0.0.1", "address the API server listens on")
	fs.IntVar(&f.cfg.SecurePort, "secure-port", 6443, "API server port")
	fs.StringVar(&f.cfg.AdvertiseAddress, "advertise-address", "", "address published as the kubernetes Service endpoint (empty: not published)")
	fs.StringSliceVar(&f.cfg.TLSSANs, "tls-san", nil, "extra DNS name or IP on the serving certificate (repeatable)")
	fs.StringVar(&f.cfg.DatastoreEndpoint, "datastore-endpoint", "", "external datastore: postgres://, mysql:// or etcd http(s):// URL (default: SQLite in --data-dir)")
	fs.DurationVar(&f.cfg.DatastoreConnectTimeout, "datastore-connect-timeout", 30*time.Second, "how long an external datastore may take to answer at start")
	fs.StringVar(&f.cfg.ServiceCIDR, "service-cidr", "10.96.0.0/16", "service IP range")
	fs.StringVar(&f.cfg.ClusterCIDR, "cluster-cidr", "", "pod IP range; node CIDRs are allocated from it (host profile)")
	fs.StringVar(&f.profile, "profile", string(controlplane.ProfileVirtual), "virtual (a tenant's cluster: no scheduler, no node controllers) or host (a whole cluster)")
	fs.StringArrayVar(&f.apiserverArgs, "apiserver-arg", nil, "extra kube-apiserver flag KEY=VALUE, overrides kplex's default (repeatable)")
	fs.StringArrayVar(&f.controllerArgs, "controller-manager-arg", nil, "extra kube-controller-manager flag KEY=VALUE (repeatable)")
	fs.StringVar(&f.debugAddress, "debug-address", "", "serve Go profiles (/debug/pprof) on this loopback address, e.g. 127.0.0.1:6060")
	fs.StringArrayVar(&f.schedulerArgs, "scheduler-arg", nil, "extra kube-scheduler flag KEY=VALUE, host profile (repeatable)")
	fs.StringVar(&f.cfg.TenantPolicy.PodSecurityLevel, "pod-security", "restricted", "virtual profile: lowest Pod Security Standards level of the tenant's pods, restricted or baseline (namespace labels can only raise it)")
	fs.BoolVar(&f.cfg.TenantPolicy.AllowNodePorts, "allow-node-ports", false, "virtual profile: allow the tenant NodePort Services")
	fs.BoolVar(&f.cfg.TenantPolicy.AllowLoadBalancers, "allow-load-balancers", false, "virtual profile: allow the tenant LoadBalancer Services")
	fs.BoolVar(&f.cfg.TenantPolicy.AllowIngresses, "allow-ingresses", false, "virtual profile: allow the tenant Ingresses (served by the host's ingress controllers)")
	f.sync.addFlags(fs)
	return cmd
}

func (f *flags) complete() (controlplane.Config, error) {
	cfg := f.cfg
	cfg.Profile = controlplane.Profile(f.profile)
	for _, set := range []struct {
		flag string
		in   []string
		out  *[]args.Arg
	}{
		{"--apiserver-arg", f.apiserverArgs, &cfg.APIServerArgs},
		{"--controller-manager-arg", f.controllerArgs, &cfg.ControllerArgs},
		{"--scheduler-arg", f.schedulerArgs, &cfg.SchedulerArgs},
	} {
		for _, s := range set.in {
			a, err := args.Parse(s)
			if err != nil {
				return cfg, fmt.Errorf("%s: %w", set.flag, err)
			}
			*set.out = append(*set.out, a)
		}
	}
	return cfg, cfg.Validate()
}

// Run starts the control plane (and, when sync is not nil, the syncer once the control
// plane is ready) and serves until ctx ends or a component fails.
func Run(ctx context.Context, cfg controlplane.Config, sync *SyncConfig, log logr.Logger) error {
	memtrim.TuneGC()
	cp, err := controlplane.New(cfg, log)
	if err != nil {
		return err
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		if err := cp.Stop(sctx); err != nil {
			log.Error(err, "Unclean shutdown")
		}
	}
	start := time.Now()
	if err := cp.Init(ctx); err != nil {
		return err
	}
	if err := cp.Start(ctx); err != nil {
		stop()
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return err
	}
	log.Info("Control plane ready", "name", cfg.Name, "url", cp.LocalURL(), "kubeconfig", cp.AdminKubeconfig(), "elapsed", time.Since(start).Round(time.Millisecond).String())
	syncDone := make(chan error, 1)
	if sync != nil {
		sctx, cancelSync := context.WithCancel(ctx)
		defer func() {
			cancelSync()
			<-syncDone
		}()
		if err := startSyncer(sctx, cfg, sync, cp.AdminKubeconfig(), cp.LastActivity, syncDone, log.WithName("syncer")); err != nil {
			cancelSync()
			close(syncDone)
			stop()
			return err
		}
	}
	trim := time.AfterFunc(trimDelay, func() {
		n, err := memtrim.Trim()
		log.V(1).Info("Trimmed startup memory", "executableBytes", n, "err", err)
	})
	defer trim.Stop()
	select {
	case <-ctx.Done():
		log.Info("Shutting down")
		stop()
		return nil
	case <-cp.Done():
		stop()
		return cp.Err()
	case err := <-syncDone:
		syncDone <- err // for the deferred wait
		stop()
		if err == nil {
			err = fmt.Errorf("syncer stopped")
		}
		return fmt.Errorf("syncer: %w", err)
	}
}

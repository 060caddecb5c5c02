package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplex-dev/kplex/internal/activity"
	"github.com/kplex-dev/kplex/internal/admission"
	"github.com/kplex-dev/kplex/internal/controlplane/apiserver"
	"github.com/kplex-dev/kplex/internal/controlplane/controllermanager"
	"github.com/kplex-dev/kplex/internal/controlplane/datastore"
	"github.com/kplex-dev/kplex/internal/controlplane/flags"
	"github.com/kplex-dev/kplex/internal/controlplane/kubeconfig"
	"github.com/kplex-dev/kplex/internal/controlplane/pki"
	"github.com/kplex-dev/kplex/internal/controlplane/scheduler"
	"github.com/kplex-dev/kplex/internal/readyz"
)

// stopper is a started component.
type stopper interface {
	Stop(ctx context.Context) error
	Done() <-chan struct{}
	Err() error
}

// ControlPlane is a datastore, an API server and controllers in one process.
// Lifecycle: New -> Init -> Start -> Ready -> Stop.
type ControlPlane struct {
	cfg        Config
	log        logr.Logger
	pki        *pki.Bundle
	store      *datastore.Datastore
	lock       *dirLock
	components []stopper // in start order; stopped in reverse
	failed     chan struct{}
	err        error
	activity   activity.Tracker // virtual profile: the tenant's last request
}

// New checks the configuration; it touches nothing on disk.
func New(cfg Config, log logr.Logger) (*ControlPlane, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &ControlPlane{cfg: cfg, log: log, failed: make(chan struct{})}, nil
}

// Init creates (or reuses) the PKI and kubeconfigs and checks the datastore answers.
func (c *ControlPlane) Init(ctx context.Context) error {
	if err := c.cfg.checkWritable(); err != nil {
		return err
	}
	lock, err := lockDataDir(c.cfg.DataDir)
	if err != nil {
		return err
	}
	c.lock = lock
	svcIP, _ := c.cfg.FirstServiceIP()
	sans := append([]string{}, c.cfg.TLSSANs...)
	if c.cfg.AdvertiseAddress != "" {
		sans = append(sans, c.cfg.AdvertiseAddress)
	}
	if ip := net.ParseIP(c.cfg.BindAddress); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		sans = append(sans, c.cfg.BindAddress)
	}
	b, err := pki.Ensure(pki.Options{Dir: c.cfg.pkiDir(), ClusterName: "kplex-" + c.cfg.Name, ServiceIP: svcIP, SANs: sans, Log: c.log})
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	c.pki = b
	if err := c.writeKubeconfigs(); err != nil {
		return err
	}
	c.store = datastore.New(datastore.Config{
		Endpoint:       c.cfg.DatastoreEndpoint,
		Dir:            c.cfg.dbDir(),
		ConnectTimeout: c.cfg.DatastoreConnectTimeout,
	}, c.log.WithName("datastore"))
	return c.store.Init(ctx)
}

// writeKubeconfigs writes the admin kubeconfig (self-contained, for people) and one per
// in-process component (file references, rewritten on every start so renewals apply).
func (c *ControlPlane) writeKubeconfigs() error {
	files := []struct {
		path, client, user string
		embed              bool
	}{
		{c.cfg.AdminKubeconfig(), pki.ClientAdmin, "admin", true},
		{c.componentKubeconfig("controller-manager"), pki.ClientControllerManager, "system:kube-controller-manager", false},
		{c.componentKubeconfig("scheduler"), pki.ClientScheduler, "system:kube-scheduler", false},
		{c.componentKubeconfig("kplex"), pki.ClientKplex, "kplex", false},
	}
	for _, f := range files {
		cert, key := c.pki.Client(f.client)
		err := kubeconfig.Write(f.path, kubeconfig.Options{
			Server: c.LocalURL(), CAFile: c.pki.CACert(), CertFile: cert, KeyFile: key,
			ClusterName: "kplex-" + c.cfg.Name, UserName: f.user, Embed: f.embed,
		})
		if err != nil {
			return fmt.Errorf("kubeconfig %s: %w", f.path, err)
		}
	}
	return nil
}

func (c *ControlPlane) componentKubeconfig(name string) string {
	return c.cfg.kubeconfigDir() + "/" + name + ".kubeconfig"
}

// LocalURL is the API server's address as seen from this process.
func (c *ControlPlane) LocalURL() string {
	host := c.cfg.BindAddress
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(c.cfg.SecurePort))
}

// Start runs the datastore, the API server and, once it is ready, the controllers.
// It returns when the API server answers /readyz.
func (c *ControlPlane) Start(ctx context.Context) error {
	if c.pki == nil {
		return errors.New("control plane: Start before Init")
	}
	if err := c.store.Start(ctx); err != nil {
		return err
	}
	ca, cert, key := c.store.TLS()
	apiCfg := flags.APIServerConfig{
		BindAddress: c.cfg.BindAddress, SecurePort: c.cfg.SecurePort, AdvertiseAddress: c.cfg.AdvertiseAddress,
		ServiceCIDR: c.cfg.ServiceCIDR, EtcdServers: c.store.Endpoints(),
		EtcdCAFile: ca, EtcdCertFile: cert, EtcdKeyFile: key,
		PKI: c.pki, HostProfile: c.cfg.Profile == ProfileHost, ExtraArgs: c.cfg.APIServerArgs,
	}
	var tenant *admission.Config
	var tracker *activity.Tracker
	if c.cfg.Profile == ProfileVirtual {
		tenant = &c.cfg.TenantPolicy
		apiCfg.AdmissionPlugins = []string{admission.PluginName}
		tracker = &c.activity
	}
	api := apiserver.New(apiCfg, tenant, tracker)
	if err := api.Start(ctx); err != nil {
		return err
	}
	c.watch(api)
	if err := c.Ready(ctx); err != nil {
		return err
	}
	kcm := controllermanager.New(flags.ControllerManagerConfig{
		Kubeconfig: c.componentKubeconfig("controller-manager"), PKI: c.pki,
		ServiceCIDR: c.cfg.ServiceCIDR, ClusterCIDR: c.cfg.ClusterCIDR,
		HostProfile: c.cfg.Profile == ProfileHost, ExtraArgs: c.cfg.ControllerArgs,
	})
	if err := kcm.Start(ctx); err != nil {
		return err
	}
	c.watch(kcm)
	if c.cfg.Profile == ProfileHost {
		s := scheduler.New(flags.SchedulerConfig{Kubeconfig: c.componentKubeconfig("scheduler"), ExtraArgs: c.cfg.SchedulerArgs})
		if err := s.Start(ctx); err != nil {
			return err
		}
		c.watch(s)
	}
	return nil
}

// watch records a started component and reports its failure on Done.
func (c *ControlPlane) watch(s stopper) {
	c.components = append(c.components, s)
	go func() {
		<-s.Done()
		if err := s.Err(); err != nil {
			c.fail(err)
		}
	}()
}

func (c *ControlPlane) fail(err error) {
	select {
	case <-c.failed:
	default:
		c.err = err
		close(c.failed)
	}
}

// Done is closed when a component fails; Err tells which and why.
func (c *ControlPlane) Done() <-chan struct{} { return c.failed }

// Err is the first component failure.
func (c *ControlPlane) Err() error { return c.err }

// Ready waits until the API server's /readyz succeeds or a component fails.
func (c *ControlPlane) Ready(ctx context.Context) error {
	cs, err := c.Client()
	if err != nil {
		return err
	}
	connect := func() (rest.Interface, error) { return cs.Discovery().RESTClient(), nil }
	return readyz.Poll(ctx, 100*time.Millisecond, connect, c.failed, c.Err)
}

// Client is a cluster-admin client for this control plane.
func (c *ControlPlane) Client() (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", c.cfg.AdminKubeconfig())
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig: %w", err)
	}
	return kubernetes.NewForConfig(rc)
}

// Stop stops the components in reverse start order, then the datastore. Idempotent.
func (c *ControlPlane) Stop(ctx context.Context) error {
	var errs []error
	for i := len(c.components) - 1; i >= 0; i-- {
		if err := c.components[i].Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if c.store != nil {
		if err := c.store.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	c.lock.release()
	return errors.Join(errs...)
}

// LastActivity is when a person or the tenant's own controllers last used the virtual
// cluster's API since the start (zero: not yet, or not a virtual profile).
func (c *ControlPlane) LastActivity() time.Time { return c.activity.Last() }

// AdminKubeconfig is the cluster-admin kubeconfig's path.
func (c *ControlPlane) AdminKubeconfig() string { return c.cfg.AdminKubeconfig() }

// PKI is the cluster's certificate bundle.
func (c *ControlPlane) PKI() *pki.Bundle { return c.pki }

// Package gateway is kplex's always-on entry to every tenant's API server. It reads the
// server name (SNI) of each TLS ClientHello without terminating TLS, wakes the named
// virtual cluster if it sleeps, holds the connection until the cluster is Ready, and then
// passes the connection, ClientHello included, to the tenant's API server untouched: the
// TLS session is between the client and the tenant's API server, so the gateway holds no
// certificate and never sees a tenant's traffic in clear.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Defaults of Options.
const (
	DefaultDomain                  = "kplex.gateway"
	DefaultWakeTimeout             = 5 * time.Minute
	DefaultHoldTimeout             = 8 * time.Second
	DefaultHelloTimeout            = 10 * time.Second
	DefaultMaxConnections          = 4096
	DefaultMaxConnectionsPerTenant = 256
	DefaultIdleTimeout             = time.Hour
	defaultPollInterval            = 250 * time.Millisecond
	// backendDialTime bounds the retries of a backend that refuses: the Service of a
	// cluster that just turned Ready may take a moment to route to its pod.
	backendDialTime = 10 * time.Second
)

// Options configure a Gateway. Zero values take the defaults above.
type Options struct {
	// Domain: the gateway serves server names <virtual cluster>.<Domain>.
	Domain string
	// WakeTimeout bounds how long the gateway waits for a cluster to become Ready after a
	// connection found it not Ready: the connections that come meanwhile join the wait.
	WakeTimeout time.Duration
	// HoldTimeout bounds how long one connection is held; then it is closed, before its
	// TLS handshake times out at the client (client-go: 10 s, an error it does not retry),
	// so that the client sees EOF, which client-go retries for GETs (10 times, 1 s apart),
	// and its next connection joins the wait under way.
	HoldTimeout time.Duration
	// HelloTimeout bounds the time from accept to a complete ClientHello.
	HelloTimeout time.Duration
	// MaxHelloBytes bounds the ClientHello's records, headers included (default 16 KiB).
	MaxHelloBytes int
	// MaxConnections bounds the open connections, handshaking, held or passed through;
	// MaxConnectionsPerTenant those of one server name, held or passed through.
	MaxConnections          int
	MaxConnectionsPerTenant int
	// IdleTimeout closes a passed-through connection on which no byte moved either way
	// for this long (and bounds a half-closed one).
	IdleTimeout time.Duration
	// PollInterval is how often the state of a held connection's cluster is looked at.
	PollInterval time.Duration
	// Dial connects to the API server of virtual cluster vc. Required.
	Dial func(ctx context.Context, vc string) (net.Conn, error)
	Log  logr.Logger
}

// Gateway passes TLS connections to tenants' API servers by server name.
type Gateway struct {
	opts     Options
	clusters *clusters
	conns    chan struct{}  // one token per open connection
	buffers  sync.Pool      // *[]byte of the splice
	waits    sync.WaitGroup // the goroutines of the wakeWaits

	mu      sync.Mutex
	tenants map[string]*tenantState
}

// tenantState is what the gateway holds for one server name with open connections.
type tenantState struct {
	conns int
	wait  *wakeWait // the wait all held connections share; nil when none is held
}

// New returns a gateway that reads VirtualClusters through c (ideally backed by a cache,
// see NewClient) and patches their wake annotation.
func New(c client.Client, opts Options) (*Gateway, error) {
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if err := ValidateDomain(opts.Domain); err != nil {
		return nil, err
	}
	if opts.Dial == nil {
		return nil, errors.New("gateway: no backend dialer")
	}
	setDefault(&opts.WakeTimeout, DefaultWakeTimeout)
	setDefault(&opts.HoldTimeout, DefaultHoldTimeout)
	setDefault(&opts.HelloTimeout, DefaultHelloTimeout)
	setDefault(&opts.IdleTimeout, DefaultIdleTimeout)
	setDefault(&opts.PollInterval, defaultPollInterval)
	setDefault(&opts.MaxHelloBytes, defaultMaxHelloLength)
	setDefault(&opts.MaxConnections, DefaultMaxConnections)
	setDefault(&opts.MaxConnectionsPerTenant, DefaultMaxConnectionsPerTenant)
	g := &Gateway{
		opts:     opts,
		clusters: &clusters{c: c},
		conns:    make(chan struct{}, opts.MaxConnections),
		tenants:  map[string]*tenantState{},
	}
	g.buffers.New = func() any { b := make([]byte, spliceBuffer); return &b }
	return g, nil
}

func setDefault[T time.Duration | int](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Serve accepts connections on l until ctx ends; then it closes l and every connection.
func (g *Gateway) Serve(ctx context.Context, l net.Listener) error {
	log := g.opts.Log
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer g.waits.Wait()
	defer wg.Wait()
	log.Info("Gateway serving", "address", l.Addr().String(), "domain", g.opts.Domain)
	backoff := time.Duration(0)
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("gateway: accept: %w", err)
			}
			// Out of file descriptors or memory, as a flood of connections can make it: wait
			// and go on, as net/http does, rather than take the operator down.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Info("Accepting a connection failed; retrying", "err", err.Error(), "after", backoff.String())
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		select {
		case g.conns <- struct{}{}:
		default:
			log.Info("Refused connection: too many open connections", "remote", conn.RemoteAddr().String(), "max", g.opts.MaxConnections)
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-g.conns }()
			g.handle(ctx, conn)
		}()
	}
}

// handle reads conn's ClientHello, waits for its cluster and passes conn through.
func (g *Gateway) handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	log := g.opts.Log.WithValues("remote", conn.RemoteAddr().String())

	// One deadline for the whole ClientHello: a client sending a byte at a time gets no
	// more time than one sending nothing.
	if err := conn.SetReadDeadline(time.Now().Add(g.opts.HelloTimeout)); err != nil {
		return
	}
	hello, serverName, err := readClientHello(conn, g.opts.MaxHelloBytes)
	if err != nil {
		log.Info("Refused connection", "reason", err.Error())
		return
	}
	vc, err := tenantOf(serverName, g.opts.Domain)
	if err != nil {
		log.Info("Refused connection", "reason", err.Error(), "serverName", serverName)
		return
	}
	log = log.WithValues("virtualCluster", vc)
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return
	}
	release, ok := g.admit(vc)
	if !ok {
		log.Info("Refused connection: too many connections to this virtual cluster", "max", g.opts.MaxConnectionsPerTenant)
		return
	}
	defer release()

	start := time.Now()
	if err := g.ready(ctx, vc); err != nil {
		log.Info("Closed connection", "reason", err.Error(), "held", time.Since(start).Round(time.Millisecond).String())
		return
	}
	backend, err := g.dial(ctx, vc)
	if err != nil {
		log.Info("Closed connection: the virtual cluster's API server is unreachable", "err", err.Error())
		return
	}
	defer backend.Close()
	stopBackend := context.AfterFunc(ctx, func() { backend.Close() })
	defer stopBackend()
	if _, err := backend.Write(hello); err != nil {
		log.Info("Closed connection: the virtual cluster's API server went away", "err", err.Error())
		return
	}
	log.V(1).Info("Passing connection through", "held", time.Since(start).Round(time.Millisecond).String())
	up, down := g.splice(conn, backend)
	log.V(1).Info("Connection closed", "bytesToCluster", up+int64(len(hello)), "bytesToClient", down, "duration", time.Since(start).Round(time.Millisecond).String())
}

// admit counts a connection to vc against its cap; release uncounts it.
func (g *Gateway) admit(vc string) (release func(), ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.tenants[vc]
	if t == nil {
		t = &tenantState{}
		g.tenants[vc] = t
	}
	if t.conns >= g.opts.MaxConnectionsPerTenant {
		return nil, false
	}
	t.conns++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		t.conns--
		g.forget(vc, t)
	}, true
}

// forget drops vc's state once nothing refers to it. g.mu is held.
func (g *Gateway) forget(vc string, t *tenantState) {
	if t.conns == 0 && t.wait == nil && g.tenants[vc] == t {
		delete(g.tenants, vc)
	}
}

// dial connects to vc's API server, retrying refusals for a short while.
func (g *Gateway) dial(ctx context.Context, vc string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, backendDialTime)
	defer cancel()
	for delay := 100 * time.Millisecond; ; delay *= 2 {
		conn, err := g.opts.Dial(ctx, vc)
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dial virtual cluster %s: %w", vc, err)
		case <-time.After(delay):
		}
	}
}

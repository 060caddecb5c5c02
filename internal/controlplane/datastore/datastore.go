// Package datastore runs kine in-process: the etcd API the API server talks to, served from
// SQLite in the data dir or from an external PostgreSQL, MySQL or etcd.
package datastore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/k3s-io/kine/pkg/drivers/generic"
	"github.com/k3s-io/kine/pkg/endpoint"
)

// sqliteParams keep kine's WAL journal but raise synchronous from NORMAL to FULL: NORMAL
// already survives a killed process, FULL also keeps every acknowledged write when the
// machine itself loses power, at the price of one fsync per commit.
const sqliteParams = "_journal_mode=WAL&_synchronous=FULL&_busy_timeout=30000&_txlock=immediate&_stmt_cache_size=20"

// Config selects the backend.
type Config struct {
	Endpoint       string        // kine DSN; empty means SQLite under Dir
	Dir            string        // holds state.db and kine.sock
	ConnectTimeout time.Duration // how long an external backend may take to answer before start fails
}

// Datastore is kine serving the etcd API on a unix socket.
type Datastore struct {
	cfg    Config
	log    logr.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	etcd   endpoint.ETCDConfig
	once   sync.Once
}

// New returns a stopped datastore.
func New(cfg Config, log logr.Logger) *Datastore {
	return &Datastore{cfg: cfg, log: log}
}

// Init checks the endpoint's syntax and, for external backends, that they answer.
func (d *Datastore) Init(ctx context.Context) error {
	b, err := parse(d.cfg.Endpoint)
	if err != nil {
		return err
	}
	// The kine socket lives here whatever the backend; SQLite's files too.
	if err := os.MkdirAll(d.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", d.cfg.Dir, err)
	}
	if b.kind == kindSQLite {
		return nil
	}
	timeout := d.cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return probe(ctx, b, timeout, d.log)
}

// Start serves the etcd API. It returns once kine accepts connections.
func (d *Datastore) Start(ctx context.Context) error {
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	cfg := endpoint.Config{
		WaitGroup:             &d.wg,
		Listener:              "unix://" + d.Socket(),
		Endpoint:              d.dsn(),
		ConnectionPoolConfig:  generic.ConnectionPoolConfig{MaxIdle: 20, MaxIdleTime: 2 * time.Minute},
		NotifyInterval:        5 * time.Second,
		EmulatedETCDVersion:   "3.6.11",
		CompactInterval:       5 * time.Minute,
		CompactIntervalJitter: 10,
		CompactTimeout:        5 * time.Second,
		CompactMinRetain:      1000,
		CompactBatchSize:      1000,
		PollBatchSize:         500,
		PollInterval:          time.Second,
	}
	etcd, err := endpoint.Listen(kctx, cfg)
	if err != nil {
		cancel()
		return fmt.Errorf("start kine: %w", err)
	}
	d.etcd = etcd
	d.log.Info("Datastore serving", "backend", describe(d.cfg.Endpoint), "endpoints", etcd.Endpoints)
	return nil
}

// Endpoints are the etcd URLs for --etcd-servers.
func (d *Datastore) Endpoints() []string { return d.etcd.Endpoints }

// TLS returns the client TLS files for an external etcd that needs them (empty otherwise).
func (d *Datastore) TLS() (ca, cert, key string) {
	t := d.etcd.TLSConfig
	return t.CAFile, t.CertFile, t.KeyFile
}

// Socket is the unix socket kine listens on.
func (d *Datastore) Socket() string { return filepath.Join(d.cfg.Dir, "kine.sock") }

// Stop closes the database after in-flight requests end. Safe to call more than once.
func (d *Datastore) Stop() error {
	d.once.Do(func() {
		if d.cancel != nil {
			d.cancel()
			d.wg.Wait()
		}
	})
	return nil
}

func (d *Datastore) dsn() string {
	if d.cfg.Endpoint != "" {
		return d.cfg.Endpoint
	}
	return "sqlite://" + filepath.Join(d.cfg.Dir, "state.db") + "?" + sqliteParams
}

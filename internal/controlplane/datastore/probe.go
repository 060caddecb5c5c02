package datastore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// probe waits until an external backend answers, so that a wrong address fails in seconds
// with a clear message instead of kine's five minutes of silent retries.
func probe(ctx context.Context, b backend, timeout time.Duration, log logr.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		last = probeOnce(ctx, b)
		if last == nil {
			return nil
		}
		var fatal fatalError
		if errors.As(last, &fatal) {
			return fatal.err
		}
		log.V(1).Info("Datastore not answering yet", "err", last.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("datastore %s did not answer within %s (%s): check --datastore-endpoint and that the server runs", describe(b.dsn), timeout, oneLine(last))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// fatalError is a probe failure that retrying cannot fix (bad password, bad config).
type fatalError struct{ err error }

func (f fatalError) Error() string { return f.err.Error() }

func probeOnce(ctx context.Context, b backend) error {
	if b.kind == kindPostgres {
		return probePostgres(ctx, b.dsn)
	}
	var d net.Dialer
	for _, addr := range b.addrs {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("connect %s: %w", addr, err)
		}
		c.Close()
	}
	return nil
}

func probePostgres(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fatalError{fmt.Errorf("invalid --datastore-endpoint: %v", err)}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "3D000": // database does not exist: kine creates it
			return nil
		case "28P01", "28000": // bad password, no pg_hba entry
			return fatalError{fmt.Errorf("datastore postgres refused the credentials (%s): fix the user and password in --datastore-endpoint", pgErr.Message)}
		}
	}
	return err
}

// oneLine folds a driver's multi-line error into one line for the user.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

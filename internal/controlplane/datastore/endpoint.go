package datastore

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

type kind int

const (
	kindSQLite kind = iota
	kindPostgres
	kindMySQL
	kindEtcd
)

// backend is a parsed endpoint: what it is and which host:port pairs must answer.
type backend struct {
	kind  kind
	dsn   string
	addrs []string
}

// parse validates a kine DSN without touching the network. The error never repeats the
// DSN itself: it may hold a password.
func parse(dsn string) (backend, error) {
	if dsn == "" {
		return backend{kind: kindSQLite}, nil
	}
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok || rest == "" {
		return backend{}, fmt.Errorf("invalid --datastore-endpoint: expected <scheme>://<address>, e.g. postgres://user:pass@127.0.0.1:5432/kplex or http://127.0.0.1:2379")
	}
	switch scheme {
	case "sqlite":
		return backend{kind: kindSQLite, dsn: dsn}, nil
	case "postgres", "postgresql":
		u, err := url.Parse(dsn)
		if err != nil || u.Host == "" {
			return backend{}, fmt.Errorf("invalid --datastore-endpoint: malformed PostgreSQL URL (want postgres://user:password@host:5432/dbname)")
		}
		return backend{kind: kindPostgres, dsn: dsn, addrs: []string{withPort(u.Host, "5432")}}, nil
	case "mysql":
		// kine's MySQL form is mysql://user:pass@tcp(host:port)/db
		host := rest
		if i := strings.LastIndex(host, "@"); i >= 0 {
			host = host[i+1:]
		}
		host, _, _ = strings.Cut(host, "/")
		host = strings.TrimSuffix(strings.TrimPrefix(host, "tcp("), ")")
		if host == "" {
			return backend{}, fmt.Errorf("invalid --datastore-endpoint: malformed MySQL DSN (want mysql://user:password@tcp(host:3306)/dbname)")
		}
		return backend{kind: kindMySQL, dsn: dsn, addrs: []string{withPort(host, "3306")}}, nil
	case "http", "https":
		var addrs []string
		for _, ep := range strings.Split(dsn, ",") {
			u, err := url.Parse(strings.TrimSpace(ep))
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				return backend{}, fmt.Errorf("invalid --datastore-endpoint: malformed etcd URL list (want http://host:2379[,http://host2:2379])")
			}
			addrs = append(addrs, withPort(u.Host, "2379"))
		}
		return backend{kind: kindEtcd, dsn: dsn, addrs: addrs}, nil
	default:
		return backend{}, fmt.Errorf("invalid --datastore-endpoint: unsupported scheme %q; use sqlite://, postgres://, mysql:// or an etcd http(s):// URL", scheme)
	}
}

func withPort(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// describe names the backend for logs without credentials.
func describe(dsn string) string {
	if dsn == "" {
		return "sqlite (embedded)"
	}
	scheme, _, _ := strings.Cut(dsn, "://")
	return scheme
}

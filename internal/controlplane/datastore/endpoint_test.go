package datastore

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		dsn   string
		kind  kind
		addrs []string
	}{
		{"", kindSQLite, nil},
		{"sqlite:///var/lib/x.db", kindSQLite, nil},
		{"postgres://u:p@db.example:6000/kplex", kindPostgres, []string{"db.example:6000"}},
		{"postgresql://u@127.0.0.1/kplex", kindPostgres, []string{"127.0.0.1:5432"}},
		{"mysql://u:p@tcp(10.0.0.5:3307)/kplex", kindMySQL, []string{"10.0.0.5:3307"}},
		{"mysql://u:p@tcp(db)/kplex", kindMySQL, []string{"db:3306"}},
		{"http://127.0.0.1:2379,http://127.0.0.2", kindEtcd, []string{"127.0.0.1:2379", "127.0.0.2:2379"}},
		{"https://[::1]:2379", kindEtcd, []string{"[::1]:2379"}},
	}
	for _, tt := range tests {
		b, err := parse(tt.dsn)
		if err != nil {
			t.Errorf("parse(%q): %v", tt.dsn, err)
			continue
		}
		if b.kind != tt.kind || !reflect.DeepEqual(b.addrs, tt.addrs) {
			t.Errorf("parse(%q) = %v %v, want %v %v", tt.dsn, b.kind, b.addrs, tt.kind, tt.addrs)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for dsn, want := range map[string]string{
		"localhost:5432":               "expected <scheme>://<address>",
		"postgres://":                  "expected <scheme>://<address>",
		"redis://h:1":                  `unsupported scheme "redis"`,
		"postgres://secret:pw@/nohost": "malformed PostgreSQL URL",
		"http://h:1,ftp://x":           "malformed etcd URL list",
	} {
		_, err := parse(dsn)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parse(%q) = %v, want error containing %q", dsn, err, want)
			continue
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "pw@") {
			t.Errorf("parse(%q) error leaks credentials: %v", dsn, err)
		}
	}
}

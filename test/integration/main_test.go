// Package integration runs the built kplexd binary against its real datastores.
package integration

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kplex-dev/kplex/internal/testenv"
)

// datastore is one backend the control-plane tests run against.
type datastore struct {
	name string
	args func(t *testing.T) []string // flags giving a fresh, empty store
}

// datastores are embedded SQLite always, and PostgreSQL and etcd when .ci/run (or the
// developer) provides them through KPLEX_TEST_POSTGRES / KPLEX_TEST_ETCD.
func datastores(t *testing.T) []datastore {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	ds := []datastore{{name: "sqlite", args: func(*testing.T) []string { return nil }}}
	if dsn := os.Getenv("KPLEX_TEST_POSTGRES"); dsn != "" {
		ds = append(ds, datastore{name: "postgres", args: func(t *testing.T) []string {
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatalf("KPLEX_TEST_POSTGRES: %v", err)
			}
			u.Path = "/" + uniqueName(t) // kine creates the database
			return []string{"--datastore-endpoint", u.String()}
		}})
	}
	if ep := os.Getenv("KPLEX_TEST_ETCD"); ep != "" {
		ds = append(ds, datastore{name: "etcd", args: func(t *testing.T) []string {
			return []string{"--datastore-endpoint", ep, "--apiserver-arg", "etcd-prefix=/" + uniqueName(t)}
		}})
	}
	return ds
}

func uniqueName(t *testing.T) string {
	r := strings.NewReplacer("/", "_", "-", "_", " ", "_")
	name := r.Replace(t.Name())
	if len(name) > 40 { // PostgreSQL names stop at 63 bytes
		name = name[len(name)-40:]
	}
	return strings.ToLower(fmt.Sprintf("kplex_%s_%d", name, time.Now().UnixNano()%1e9))
}

// onEachDatastore starts a fresh, ready control plane per datastore and runs fn on it.
func onEachDatastore(t *testing.T, fn func(ctx context.Context, t *testing.T, cp *testenv.ControlPlane)) {
	for _, ds := range datastores(t) {
		t.Run(ds.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cp := testenv.NewControlPlane(t, ds.args(t)...)
			cp.Start(ctx)
			fn(ctx, t, cp)
		})
	}
}

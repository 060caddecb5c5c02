package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// devhostEnv is a devhost started by a test in its own data dir.
type devhostEnv struct {
	bin     string
	dataDir string
	config  *rest.Config
	client  kubernetes.Interface
	upTime  time.Duration
}

// devhostBinary is $KPLEX_DEVHOST, else kplex-devhost in $KPLEX_BIN, else
// bin/kplex-devhost of this repository.
func devhostBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KPLEX_DEVHOST"); p != "" {
		return p
	}
	if dir := os.Getenv("KPLEX_BIN"); dir != "" {
		return filepath.Join(dir, "kplex-devhost")
	}
	// go test runs in the package directory, test/e2e.
	p, err := filepath.Abs(filepath.Join("..", "..", "bin", "kplex-devhost"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not built: run make build first (or set KPLEX_DEVHOST)", p)
	}
	return p
}

// skipUnlessDevhostPossible skips, saying why, where a devhost cannot run.
func skipUnlessDevhostPossible(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test on a real devhost: skipped with -short")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("end-to-end test on a real devhost: needs root on Linux (run the tests with sudo)")
	}
}

// startDevhost runs `kplex-devhost up` in a fresh data dir; the cleanup runs
// `down` unless the test did.
func startDevhost(t *testing.T) *devhostEnv {
	t.Helper()
	skipUnlessDevhostPossible(t)
	env := &devhostEnv{bin: devhostBinary(t)}
	dir, err := os.MkdirTemp("", "kplex-devhost-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	env.dataDir = dir
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(dir, "run")); err == nil {
			if out, err := env.run(context.Background(), "down"); err != nil {
				t.Errorf("cleanup: kplex-devhost down: %v\n%s", err, out)
			}
		}
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("devhost logs kept in %s/logs", dir)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := env.run(ctx, "up", "--timeout=5m")
	env.upTime = time.Since(start)
	t.Logf("kplex-devhost up:\n%s", out)
	if err != nil {
		t.Fatalf("kplex-devhost up: %v", err)
	}
	env.connect(t)
	return env
}

// connect (re)reads the kubeconfig the devhost wrote.
func (e *devhostEnv) connect(t *testing.T) {
	t.Helper()
	var err error
	e.config, err = clientcmd.BuildConfigFromFlags("", filepath.Join(e.dataDir, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	e.client, err = kubernetes.NewForConfig(e.config)
	if err != nil {
		t.Fatal(err)
	}
}

// run runs one kplex-devhost command against the env's data dir.
func (e *devhostEnv) run(ctx context.Context, args ...string) (string, error) {
	args = append(args, "--data-dir", e.dataDir)
	cmd := exec.CommandContext(ctx, e.bin, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

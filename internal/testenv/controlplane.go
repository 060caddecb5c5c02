package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplex-dev/kplex/internal/readyz"
)

// ControlPlane is a `kplexd controlplane` process under test.
type ControlPlane struct {
	Bin     string
	DataDir string
	Port    int
	Args    []string // extra flags
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *os.File
	t       testing.TB
}

// NewControlPlane prepares (but does not start) a control plane with its own data dir and port.
func NewControlPlane(t testing.TB, extra ...string) *ControlPlane {
	t.Helper()
	c := &ControlPlane{Bin: Binary(t, "kplexd"), DataDir: t.TempDir(), Port: FreePort(t), Args: extra, t: t}
	t.Cleanup(func() { c.Kill() })
	return c
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Command returns the kplexd command line for this control plane.
func (c *ControlPlane) Command() []string {
	return append([]string{c.Bin, "controlplane", "--name", "test", "--data-dir", c.DataDir,
		"--secure-port", strconv.Itoa(c.Port)}, c.Args...)
}

// Start launches the process and waits for /readyz; it returns the time that took.
func (c *ControlPlane) Start(ctx context.Context) time.Duration {
	c.t.Helper()
	argv := c.Command()
	f, err := os.OpenFile(filepath.Join(c.DataDir, "..", fmt.Sprintf("kplexd-%d.log", time.Now().UnixNano())), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	c.log = f
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Stdout, c.cmd.Stderr = f, f
	c.exited = make(chan struct{})
	start := time.Now()
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("start kplexd: %v", err)
	}
	go func() { c.cmd.Wait(); close(c.exited) }()
	if err := c.WaitReady(ctx, 3*time.Minute); err != nil {
		c.t.Fatalf("%v\n--- kplexd log ---\n%s", err, c.LogTail())
	}
	return time.Since(start)
}

// WaitReady polls /readyz anonymously (as a load balancer would) until it answers ok.
func (c *ControlPlane) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg := &rest.Config{Host: c.URL(), TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(c.DataDir, "pki", "ca.crt")}, Timeout: 2 * time.Second}
	connect := func() (rest.Interface, error) {
		if _, err := os.Stat(cfg.TLSClientConfig.CAFile); err != nil {
			return nil, err
		}
		return rest.UnversionedRESTClientFor(withNegotiated(cfg))
	}
	err := readyz.Poll(ctx, 50*time.Millisecond, connect, c.exited, func() error {
		return fmt.Errorf("kplexd exited before ready: %v", c.cmd.ProcessState)
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("kplexd not ready after %s", timeout)
	}
	return err
}

// URL is the API server's address.
func (c *ControlPlane) URL() string { return "https://127.0.0.1:" + strconv.Itoa(c.Port) }

// Kubeconfig is the admin kubeconfig kplexd wrote.
func (c *ControlPlane) Kubeconfig() string {
	return filepath.Join(c.DataDir, "kubeconfig", "admin.kubeconfig")
}

// RESTConfig is a cluster-admin config.
func (c *ControlPlane) RESTConfig() *rest.Config {
	c.t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		c.t.Fatal(err)
	}
	rc.QPS, rc.Burst = 500, 1000
	return rc
}

// Client is a cluster-admin clientset.
func (c *ControlPlane) Client() kubernetes.Interface {
	return kubernetes.NewForConfigOrDie(c.RESTConfig())
}

// Terminate sends SIGTERM and returns how long the process took to exit.
func (c *ControlPlane) Terminate(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-c.exited:
		if code := c.cmd.ProcessState.ExitCode(); code != 0 {
			return time.Since(start), fmt.Errorf("kplexd exited %d after SIGTERM", code)
		}
		return time.Since(start), nil
	case <-time.After(timeout):
		c.Kill()
		return time.Since(start), fmt.Errorf("kplexd still running %s after SIGTERM", timeout)
	}
}

// Kill sends SIGKILL (no chance to flush anything) and waits for the exit.
func (c *ControlPlane) Kill() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Kill()
	<-c.exited
	if c.log != nil {
		c.log.Close()
	}
}

// PID is the running process's id.
func (c *ControlPlane) PID() int { return c.cmd.Process.Pid }

// Log is everything the current process has logged so far.
func (c *ControlPlane) Log() []byte {
	if c.log == nil {
		return nil
	}
	b, _ := os.ReadFile(c.log.Name())
	return b
}

// LogTail is the end of the current process's log, for failure messages.
func (c *ControlPlane) LogTail() string {
	b := c.Log()
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

func withNegotiated(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.NegotiatedSerializer = unstructuredSerializer()
	return c
}

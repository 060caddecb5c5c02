package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/kplex-dev/kplex/internal/controlplane/flags"
	"github.com/kplex-dev/kplex/internal/controlplane/kubeconfig"
	"github.com/kplex-dev/kplex/internal/controlplane/pki"
)

// variant starts one control plane (one or several processes) on a data dir.
type variant interface {
	name() string
	start(ctx context.Context, dir string, port int) ([]*exec.Cmd, error)
}

type kplexd struct{ bin string }

func (kplexd) name() string { return "kplexd (one process)" }

func (k kplexd) start(_ context.Context, dir string, port int) ([]*exec.Cmd, error) {
	c := command(dir, "kplexd", filepath.Join(k.bin, "kplexd"), "controlplane", "--name", "bench", "--data-dir", dir, "--secure-port", strconv.Itoa(port))
	return []*exec.Cmd{c}, c.Start()
}

// upstream is the baseline: the same components as separate processes, configured with
// the flags kplexd itself would use, on kine's own default SQLite settings.
type upstream struct{ bin string }

// kineDefaultSQLiteParams are what kine uses when started without an endpoint
// (sqlite.DefaultParams); an explicit sqlite:// path without them has no busy timeout.
const kineDefaultSQLiteParams = "_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate&_stmt_cache_size=20&cache=shared"

func (upstream) name() string { return "upstream (kine + kube-apiserver + kube-controller-manager)" }

func (u upstream) start(_ context.Context, dir string, port int) ([]*exec.Cmd, error) {
	b, err := pki.Ensure(pki.Options{Dir: filepath.Join(dir, "pki"), ClusterName: "bench", ServiceIP: net.ParseIP("10.96.0.1")})
	if err != nil {
		return nil, err
	}
	url := "https://127.0.0.1:" + strconv.Itoa(port)
	for _, k := range []struct{ file, client string }{{"admin.kubeconfig", pki.ClientAdmin}, {"controller-manager.kubeconfig", pki.ClientControllerManager}} {
		cert, key := b.Client(k.client)
		if err := kubeconfig.Write(filepath.Join(dir, "kubeconfig", k.file), kubeconfig.Options{Server: url, CAFile: b.CACert(), CertFile: cert, KeyFile: key, ClusterName: "bench", UserName: k.client, Embed: true}); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "db", "kine.sock")
	kine := command(dir, "kine", filepath.Join(u.bin, "baseline", "kine"), "--endpoint", "sqlite://"+filepath.Join(dir, "db", "state.db")+"?"+kineDefaultSQLiteParams,
		"--listen-address", "unix://"+sock, "--metrics-bind-address", "0")
	api := command(dir, "kube-apiserver", filepath.Join(u.bin, "baseline", "kube-apiserver"), flags.APIServer(flags.APIServerConfig{
		BindAddress: "127.0.0.1", SecurePort: port, ServiceCIDR: "10.96.0.0/16", EtcdServers: []string{"unix://" + sock}, PKI: b})...)
	kcm := command(dir, "kube-controller-manager", filepath.Join(u.bin, "baseline", "kube-controller-manager"), flags.ControllerManager(flags.ControllerManagerConfig{
		Kubeconfig: filepath.Join(dir, "kubeconfig", "controller-manager.kubeconfig"), PKI: b, ServiceCIDR: "10.96.0.0/16"})...)
	cmds := []*exec.Cmd{kine, api, kcm}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			stop(cmds)
			return nil, err
		}
	}
	return cmds, nil
}

func command(dir, name, bin string, args ...string) *exec.Cmd {
	c := exec.Command(bin, args...)
	log, _ := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	c.Stdout, c.Stderr = log, log
	return c
}

// stop sends SIGTERM to every process and waits (SIGKILL after 15 s).
func stop(cmds []*exec.Cmd) {
	for _, c := range cmds {
		if c.Process != nil {
			c.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, c := range cmds {
		if c.Process == nil {
			continue
		}
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
}

// rss sums resident memory over the processes, in bytes: total, anonymous, file-backed.
func rss(cmds []*exec.Cmd) (total, anon, file int64, err error) {
	for _, c := range cmds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Process.Pid))
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%s exited: %w", c.Path, err)
		}
		total += field(b, "VmRSS:")
		anon += field(b, "RssAnon:")
		file += field(b, "RssFile:")
	}
	return total, anon, file, nil
}

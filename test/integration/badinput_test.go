package integration

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/internal/testenv"
)

// TestBadInputFailsWithOneClearLine: every mistake a user can make at start exits non-zero
// and the last line of stderr names the problem and the fix.
func TestBadInputFailsWithOneClearLine(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	bin := testenv.Binary(t, "kplexd")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	notADir, _ := os.CreateTemp(t.TempDir(), "file")
	notADir.Close()

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"malformed endpoint", []string{"--datastore-endpoint", "not-a-url"}, "invalid --datastore-endpoint: expected <scheme>://<address>"},
		{"unknown scheme", []string{"--datastore-endpoint", "redis://127.0.0.1:6379"}, `unsupported scheme "redis"`},
		{"unreachable postgres", []string{"--datastore-endpoint", "postgres://u:p@127.0.0.1:1/db", "--datastore-connect-timeout", "2s"}, "did not answer within 2s"},
		{"unreachable etcd", []string{"--datastore-endpoint", "http://127.0.0.1:1", "--datastore-connect-timeout", "1s"}, "check --datastore-endpoint and that the server runs"},
		{"data dir is a file", []string{"--data-dir", notADir.Name() + "/sub"}, "choose a writable --data-dir"},
		{"port in use", []string{"--secure-port", busyPort}, "choose a free --secure-port"},
		{"bad port", []string{"--secure-port", "70000"}, "invalid --secure-port 70000"},
		{"bad service cidr", []string{"--service-cidr", "10.96.0.0/99"}, "invalid --service-cidr"},
		{"bad profile", []string{"--profile", "tenant"}, `invalid --profile "tenant"`},
		{"bad bind address", []string{"--bind-address", "localhost:1"}, "invalid --bind-address"},
		{"malformed passthrough", []string{"--apiserver-arg", "audit-log-maxage"}, "use KEY=VALUE"},
		{"unknown passthrough flag", []string{"--apiserver-arg", "no-such-flag=1"}, "invalid --apiserver-arg"},
		{"bad passthrough value", []string{"--controller-manager-arg", "concurrent-deployment-syncs=many"}, "invalid --controller-manager-arg"},
		{"unknown flag", []string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
		{"DNS without the syncer", []string{"--dns-address", "127.0.0.1:1053"}, "--dns-address needs the syncer"},
		{"pods sent to no DNS", []string{"--host-namespace", "x", "--tenant-dns-ip", "10.96.0.10"}, "--tenant-dns-ip needs --dns-address"},
		{"bad DNS address", []string{"--host-namespace", "x", "--dns-address", "1053"}, "give HOST:PORT"},
		{"pod security below baseline", []string{"--pod-security", "privileged"}, `invalid --pod-security "privileged": use "restricted" or "baseline"`},
		{"bad tenant DNS IP", []string{"--host-namespace", "x", "--dns-address", ":1053", "--tenant-dns-ip", "dns.local"}, "--tenant-dns-ip \"dns.local\": give an IP address"},
	}
	if dsn := os.Getenv("KPLEX_TEST_POSTGRES"); dsn != "" {
		u, _ := url.Parse(dsn)
		u.User = url.UserPassword("kplex", "wrong-password")
		cases = append(cases, struct {
			name string
			args []string
			want string
		}{"wrong postgres password", []string{"--datastore-endpoint", u.String()}, "refused the credentials"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			dir := t.TempDir()
			args := append([]string{"controlplane", "--data-dir", dir, "--secure-port", strconv.Itoa(testenv.FreePort(t))}, tc.args...)
			cmd := exec.CommandContext(ctx, bin, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil || cmd.ProcessState.ExitCode() <= 0 {
				t.Fatalf("exit: %v, want a non-zero exit code", err)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "kplexd: ") || !strings.Contains(last, tc.want) {
				t.Fatalf("last stderr line %q\nwant it to contain %q", last, tc.want)
			}
			if strings.Contains(last, "wrong-password") || strings.Contains(last, "u:p@") {
				t.Fatalf("error leaks credentials: %q", last)
			}
		})
	}
}

// TestFailedFirstStartLeavesNothingBroken: a first start that fails (port in use) and the
// next start on the same data dir succeeds.
func TestFailedFirstStartLeavesNothingBroken(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp := testenv.NewControlPlane(t)
	busy, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(cp.Port))
	if err != nil {
		t.Fatal(err)
	}
	argv := cp.Command()
	if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err == nil {
		t.Fatalf("start on a busy port succeeded:\n%s", out)
	}
	busy.Close()
	cp.Start(ctx)
	if _, err := cp.Client().CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestSecondProcessOnSameDataDirRefused: a second kplexd on a data dir in use fails with
// a clear line, and the first keeps serving.
func TestSecondProcessOnSameDataDirRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp := testenv.NewControlPlane(t)
	cp.Start(ctx)
	argv := cp.Command()
	argv = append(argv, "--secure-port", strconv.Itoa(testenv.FreePort(t)))
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is in use by another kplexd (pid "+strconv.Itoa(cp.PID())+")") {
		t.Fatalf("second kplexd on the same data dir: err=%v\n%s", err, out)
	}
	if _, err := cp.Client().CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("first kplexd stopped serving: %v", err)
	}
}

package host

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-logr/logr/testr"
)

func touch(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadingRules(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	devhost := touch(t, filepath.Join(dir, "devhost", "kubeconfig"))
	homeConfig := filepath.Join(home, ".kube", "config")
	for _, tc := range []struct {
		name       string
		opts       Options
		env        Env
		homeExists bool
		want       []string
		explicit   string
		target     string
	}{
		{name: "devhost when nothing else", env: Env{Home: home, DevhostKubeconfig: devhost},
			want: []string{devhost}, target: homeConfig},
		{name: "own config wins over the devhost", env: Env{Home: home, DevhostKubeconfig: devhost}, homeExists: true,
			want: []string{homeConfig}, target: homeConfig},
		{name: "KUBECONFIG wins", env: Env{KUBECONFIG: "/x/a:/x/b", Home: home, DevhostKubeconfig: devhost},
			want: []string{"/x/a", "/x/b"}, target: "/x/b"},
		{name: "--kubeconfig wins", opts: Options{Kubeconfig: "/k"}, env: Env{KUBECONFIG: "/x/a", Home: home, DevhostKubeconfig: devhost},
			want: []string{"/x/a"}, explicit: "/k", target: "/k"},
		{name: "no devhost", env: Env{Home: home, DevhostKubeconfig: filepath.Join(dir, "none")},
			want: []string{homeConfig}, target: homeConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(home)
			if tc.homeExists {
				touch(t, homeConfig)
			}
			rules := tc.opts.LoadingRules(tc.env)
			if !reflect.DeepEqual(rules.Precedence, tc.want) || rules.ExplicitPath != tc.explicit {
				t.Errorf("precedence %v explicit %q, want %v %q", rules.Precedence, rules.ExplicitPath, tc.want, tc.explicit)
			}
			if got := tc.opts.WriteTarget(tc.env); got != tc.target {
				t.Errorf("write target %q, want %q", got, tc.target)
			}
		})
	}
}

func TestConnectErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte(`apiVersion: v1
kind: Config
clusters: [{name: h, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: h, user: {token: t}}]
contexts: [{name: h, context: {cluster: h, user: h}}, {name: g, context: {cluster: h, user: h}}]
current-context: h
`), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := touch(t, filepath.Join(dir, "empty"))
	private := touch(t, filepath.Join(dir, "private"))
	if err := os.Chmod(private, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts Options
		want []string
	}{
		{"missing file", Options{Kubeconfig: filepath.Join(dir, "nope")}, []string{"load kubeconfig", "no such file", "--kubeconfig"}},
		{"empty file", Options{Kubeconfig: empty}, []string{"no host cluster configured", "--kubeconfig", "kplex-devhost up"}},
		{"unknown context", Options{Kubeconfig: cfg, Context: "x"}, []string{`context "x" not found`, "g, h", "--context"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.opts.Connect(Env{}, testr.New(t))
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not contain %q", err, w)
				}
			}
		})
	}
	if os.Geteuid() != 0 { // root reads any file
		_, err := Options{Kubeconfig: private}.Connect(Env{}, testr.New(t))
		if err == nil || !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), "sudo kplex") {
			t.Errorf("unreadable kubeconfig: %v", err)
		}
	}
	h, err := Options{Kubeconfig: cfg, Context: "g"}.Connect(Env{}, testr.New(t))
	if err != nil || h.Context != "g" || h.Server() != "https://127.0.0.1:1" {
		t.Fatalf("connect: %v %+v", err, h)
	}
}

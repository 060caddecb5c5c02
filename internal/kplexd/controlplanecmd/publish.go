package controlplanecmd

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kplex-dev/kplex/api/v1alpha1"
)

// PublishConfig publishes the tenant's admin kubeconfig into a Secret of the host
// namespace, for the operator and the kplex CLI. The control plane publishes it itself
// because it owns the PKI: the CA key never leaves its data directory, and the operator
// holds no certificate material of any tenant.
type PublishConfig struct {
	Secret string // Secret name in the host namespace
	Server string // API server URL written into the kubeconfig
	// GatewayServer and GatewayServerName, when set, add a second kubeconfig (key
	// GatewayKubeconfigKey) that reaches this API server through the gateway: the
	// gateway's URL as server, and the name by which the gateway routes (and this API
	// server's certificate is verified) as TLS server name.
	GatewayServer     string
	GatewayServerName string
}

// Keys of the kubeconfigs in the published Secret (the API names them for its readers).
const (
	KubeconfigKey        = v1alpha1.KubeconfigSecretKey
	GatewayKubeconfigKey = v1alpha1.GatewayKubeconfigSecretKey
)

// gatewayFlags ask for the gateway kubeconfig.
type gatewayFlags struct {
	server, serverName string
}

func (f *gatewayFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.server, "publish-gateway-server", "", "also publish a kubeconfig (key \""+GatewayKubeconfigKey+"\") whose server is this gateway URL, e.g. https://kplex-gateway.kplex-system.svc:443")
	fs.StringVar(&f.serverName, "publish-gateway-server-name", "", "TLS server name of the gateway kubeconfig, by which the gateway routes to this API server, e.g. a.kplex.gateway; must be a --tls-san")
}

// complete adds the gateway kubeconfig to p; sans are the serving certificate's names.
func (f *gatewayFlags) complete(p *PublishConfig, sans []string) error {
	if f.server == "" && f.serverName == "" {
		return nil
	}
	if f.server == "" || f.serverName == "" {
		return fmt.Errorf("--publish-gateway-server and --publish-gateway-server-name go together")
	}
	if p == nil {
		return fmt.Errorf("--publish-gateway-server needs --publish-kubeconfig-secret: the gateway kubeconfig is published beside the admin one")
	}
	if u, err := url.Parse(f.server); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--publish-gateway-server %q: want an https:// URL, e.g. https://kplex-gateway.kplex-system.svc:443", f.server)
	}
	if !slices.Contains(sans, f.serverName) {
		return fmt.Errorf("--publish-gateway-server-name %q is not a --tls-san: add --tls-san=%s so that the API server's certificate carries it", f.serverName, f.serverName)
	}
	p.GatewayServer, p.GatewayServerName = f.server, f.serverName
	return nil
}

func validatePublish(secret, server, hostNamespace string) (*PublishConfig, error) {
	if secret == "" && server == "" {
		return nil, nil
	}
	if secret == "" || server == "" {
		return nil, fmt.Errorf("--publish-kubeconfig-secret and --publish-kubeconfig-server go together")
	}
	if hostNamespace == "" {
		return nil, fmt.Errorf("--publish-kubeconfig-secret needs --host-namespace: the Secret is written there")
	}
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--publish-kubeconfig-server %q: want an https:// URL, e.g. https://kplex-apiserver.kplex-a.svc:443", server)
	}
	return &PublishConfig{Secret: secret, Server: server}, nil
}

// publishKubeconfig writes the admin kubeconfig, with its server replaced by p.Server, into
// Secret p.Secret of namespace ns; it retries until ctx ends, as the host may be briefly
// unreachable.
func publishKubeconfig(ctx context.Context, host kubernetes.Interface, ns string, p *PublishConfig, adminKubeconfig string, log logr.Logger) error {
	cfg, err := clientcmd.LoadFromFile(adminKubeconfig)
	if err != nil {
		return fmt.Errorf("load admin kubeconfig: %w", err)
	}
	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p.Secret,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "kplexd"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{},
	}
	if want.Data[KubeconfigKey], err = withServer(cfg, p.Server, ""); err != nil {
		return err
	}
	if p.GatewayServer != "" {
		if want.Data[GatewayKubeconfigKey], err = withServer(cfg, p.GatewayServer, p.GatewayServerName); err != nil {
			return err
		}
	}
	secrets := host.CoreV1().Secrets(ns)
	var last error
	err = wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		last = putSecret(ctx, secrets, want)
		if last != nil {
			log.Info("Publishing the admin kubeconfig failed; retrying", "secret", p.Secret, "err", last.Error())
		}
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("publish admin kubeconfig to secret %s/%s: %w (last: %v)", ns, p.Secret, err, last)
	}
	log.Info("Published the admin kubeconfig", "namespace", ns, "secret", p.Secret, "server", p.Server, "gateway", p.GatewayServer, "gatewayServerName", p.GatewayServerName)
	return nil
}

// withServer encodes a copy of cfg whose clusters are at server, verified under TLS
// server name serverName ("" for the server's host name).
func withServer(cfg *clientcmdapi.Config, server, serverName string) ([]byte, error) {
	cfg = cfg.DeepCopy()
	for _, c := range cfg.Clusters {
		c.Server, c.TLSServerName = server, serverName
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig for %s: %w", server, err)
	}
	return data, nil
}

func putSecret(ctx context.Context, secrets corev1client.SecretInterface, want *corev1.Secret) error {
	cur, err := secrets.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = secrets.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	cur.Labels, cur.Type, cur.Data = want.Labels, want.Type, want.Data
	_, err = secrets.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

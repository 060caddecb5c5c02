package controlplanecmd

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// PublishConfig publishes the tenant's admin kubeconfig into a Secret of the host
// namespace, for the operator and the kplex CLI. The control plane publishes it itself
// because it owns the PKI: the CA key never leaves its data directory, and the operator
// holds no certificate material of any tenant.
type PublishConfig struct {
	Secret string // Secret name in the host namespace
	Server string // API server URL written into the kubeconfig
}

// KubeconfigKey is the key of the kubeconfig in the published Secret.
const KubeconfigKey = "kubeconfig"

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
	for _, c := range cfg.Clusters {
		c.Server = p.Server
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode admin kubeconfig: %w", err)
	}
	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p.Secret,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "kplexd"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{KubeconfigKey: data},
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
	log.Info("Published the admin kubeconfig", "namespace", ns, "secret", p.Secret, "server", p.Server)
	return nil
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

// Package kubeconfig writes the kubeconfig files that connect clients to a
// tenant control plane with client certificates.
package kubeconfig

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options describes one kubeconfig with a single cluster, user and context.
type Options struct {
	// Server is the API server URL, e.g. https://127.0.0.1:6443.
	Server string
	// CAFile is the CA bundle that verifies the server.
	CAFile string
	// CertFile and KeyFile are the client certificate and key.
	CertFile, KeyFile string
	// ClusterName names the cluster and the context, which is made current.
	ClusterName string
	// UserName names the user entry.
	UserName string
	// Embed copies the file contents into the kubeconfig, so that it still
	// works when copied to another machine; otherwise it references the
	// files, so that re-issued certificates are picked up without rewriting.
	Embed bool
}

// Build returns the kubeconfig described by opts. With Embed it reads the
// files; without, it only checks that they exist.
func Build(opts Options) (*clientcmdapi.Config, error) {
	if err := validate(opts); err != nil {
		return nil, err
	}
	cluster := clientcmdapi.NewCluster()
	cluster.Server = opts.Server
	user := clientcmdapi.NewAuthInfo()
	if opts.Embed {
		var err error
		if cluster.CertificateAuthorityData, err = readFile(opts.CAFile); err != nil {
			return nil, err
		}
		if user.ClientCertificateData, err = readFile(opts.CertFile); err != nil {
			return nil, err
		}
		if user.ClientKeyData, err = readFile(opts.KeyFile); err != nil {
			return nil, err
		}
	} else {
		// Relative paths would be resolved against the kubeconfig's own
		// directory when loaded, not against ours.
		var err error
		if cluster.CertificateAuthority, err = absPath(opts.CAFile); err != nil {
			return nil, err
		}
		if user.ClientCertificate, err = absPath(opts.CertFile); err != nil {
			return nil, err
		}
		if user.ClientKey, err = absPath(opts.KeyFile); err != nil {
			return nil, err
		}
	}
	context := clientcmdapi.NewContext()
	context.Cluster = opts.ClusterName
	context.AuthInfo = opts.UserName

	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[opts.ClusterName] = cluster
	cfg.AuthInfos[opts.UserName] = user
	cfg.Contexts[opts.ClusterName] = context
	cfg.CurrentContext = opts.ClusterName
	// Catches what clients would reject on load, e.g. a missing file.
	if err := clientcmd.Validate(*cfg); err != nil {
		return nil, fmt.Errorf("kubeconfig for %s: %w", opts.ClusterName, err)
	}
	return cfg, nil
}

func validate(opts Options) error {
	u, err := url.Parse(opts.Server)
	if err != nil {
		return fmt.Errorf("kubeconfig: server %q: %w", opts.Server, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("kubeconfig: server %q is not an https:// URL", opts.Server)
	}
	required := []struct{ name, value string }{
		{"cluster name", opts.ClusterName},
		{"user name", opts.UserName},
		{"CA file", opts.CAFile},
		{"client certificate file", opts.CertFile},
		{"client key file", opts.KeyFile},
	}
	for _, r := range required {
		if r.value == "" {
			return fmt.Errorf("kubeconfig: no %s given", r.name)
		}
	}
	return nil
}

func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

func absPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	return abs, nil
}

// Package identity issues the client certificates and kubeconfigs of the
// devhost's node components (kubelet, kube-proxy) from the cluster CA.
package identity

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kplex-dev/kplex/internal/controlplane/kubeconfig"
	"github.com/kplex-dev/kplex/internal/controlplane/pki"
)

// validity of a node component's certificate; a devhost is re-created far more often.
const validity = 365 * 24 * time.Hour

// Identity is one client of the API server.
type Identity struct {
	Name   string   // file name stem, e.g. "kubelet"
	CN     string   // user name, e.g. "system:node:kplex-devhost"
	Groups []string // organizations, e.g. "system:nodes"
}

// Issuer writes identities' credentials into one directory.
type Issuer struct {
	bundle *pki.Bundle
	dir    string
	server string
}

// NewIssuer signs with bundle's CA and writes into dir kubeconfigs pointing at server.
func NewIssuer(bundle *pki.Bundle, dir, server string) *Issuer {
	return &Issuer{bundle: bundle, dir: dir, server: server}
}

// Kubeconfig issues a certificate for id and returns the path of its kubeconfig.
func (i *Issuer) Kubeconfig(id Identity) (string, error) {
	if err := os.MkdirAll(i.dir, 0o700); err != nil {
		return "", err
	}
	certPEM, keyPEM, err := pki.SignClient(i.bundle, id.CN, id.Groups, validity)
	if err != nil {
		return "", fmt.Errorf("issue certificate for %s: %w", id.CN, err)
	}
	certFile := filepath.Join(i.dir, id.Name+".crt")
	keyFile := filepath.Join(i.dir, id.Name+".key")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return "", err
	}
	path := filepath.Join(i.dir, id.Name+".kubeconfig")
	err = kubeconfig.Write(path, kubeconfig.Options{
		Server:      i.server,
		CAFile:      i.bundle.CACert(),
		CertFile:    certFile,
		KeyFile:     keyFile,
		ClusterName: "kplex-devhost",
		UserName:    id.CN,
	})
	if err != nil {
		return "", fmt.Errorf("write kubeconfig for %s: %w", id.CN, err)
	}
	return path, nil
}

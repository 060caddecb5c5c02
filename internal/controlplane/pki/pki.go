// Package pki creates and maintains the certificates and keys of one tenant
// control plane: two CAs, the API server serving certificate, the
// service-account signing key and the client certificates of the in-process
// components.
package pki

import (
	"net"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
)

// Names accepted by Bundle.Client.
const (
	ClientAdmin                  = "admin"
	ClientControllerManager      = "controller-manager"
	ClientScheduler              = "scheduler"
	ClientAPIServerKubeletClient = "apiserver-kubelet-client"
	ClientKplex                  = "kplex"
)

// APIServerKubeletClientCN is the common name of the API server's client certificate
// towards kubelets (ClientAPIServerKubeletClient): kplexd's kubelet proxy serves no one else.
const APIServerKubeletClientCN = "kube-apiserver-kubelet-client"

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore is how close to expiry a certificate may get before Ensure
	// re-issues it; a control plane restarted at least monthly never serves an
	// expired certificate.
	renewBefore = 30 * 24 * time.Hour
)

// Options configures Ensure.
type Options struct {
	// Dir holds every file, e.g. <data-dir>/pki; created 0700.
	Dir string
	// ClusterName is used in the CA common names, e.g. "kplex-<name>".
	ClusterName string
	// ServiceIP is the first IP of the service CIDR (e.g. 10.96.0.1); pods
	// reach the API server through it, so it is a SAN of the serving cert.
	ServiceIP net.IP
	// SANs are extra serving cert names (--tls-san): each an IP or a DNS name.
	SANs []string
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Log receives one line per file created or re-issued; the zero value
	// discards.
	Log logr.Logger
}

// Bundle locates the files written by Ensure.
type Bundle struct {
	Dir string

	clock func() time.Time
}

func (b *Bundle) path(name string) string { return filepath.Join(b.Dir, name) }

func (b *Bundle) now() time.Time {
	if b.clock == nil {
		return time.Now()
	}
	return b.clock()
}

// CACert is the cluster CA certificate.
func (b *Bundle) CACert() string { return b.path("ca.crt") }

// CAKey is the cluster CA private key.
func (b *Bundle) CAKey() string { return b.path("ca.key") }

// ServingCert is the API server serving certificate.
func (b *Bundle) ServingCert() string { return b.path("apiserver.crt") }

// ServingKey is the API server serving key.
func (b *Bundle) ServingKey() string { return b.path("apiserver.key") }

// SAKey is the RSA private key that signs service-account tokens.
func (b *Bundle) SAKey() string { return b.path("sa.key") }

// SAPub is the public half of SAKey, used to verify service-account tokens.
func (b *Bundle) SAPub() string { return b.path("sa.pub") }

// FrontProxyCACert is the CA that the API server trusts for requests relayed
// by an aggregating proxy (--requestheader-client-ca-file).
func (b *Bundle) FrontProxyCACert() string { return b.path("front-proxy-ca.crt") }

// FrontProxyCAKey is the private key of FrontProxyCACert.
func (b *Bundle) FrontProxyCAKey() string { return b.path("front-proxy-ca.key") }

// FrontProxyClientCert is the client certificate the API server presents to
// aggregated API servers (--proxy-client-cert-file).
func (b *Bundle) FrontProxyClientCert() string { return b.path("front-proxy-client.crt") }

// FrontProxyClientKey is the key of FrontProxyClientCert.
func (b *Bundle) FrontProxyClientKey() string { return b.path("front-proxy-client.key") }

// Client returns the certificate and key paths of a client identity, one of
// the Client* names. Other names give paths that Ensure never writes.
func (b *Bundle) Client(name string) (cert, key string) {
	return b.path(name + ".crt"), b.path(name + ".key")
}

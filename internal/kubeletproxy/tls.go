package kubeletproxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/kplex-dev/kplex/internal/controlplane/pki"
)

// servingValidity is long enough for any run: a new certificate is signed at every start.
const servingValidity = 365 * 24 * time.Hour

// TLSFromPKI returns the proxy's TLS material from the virtual cluster's PKI: a fresh
// serving certificate for ip signed by the cluster CA (which the API server checks with
// --kubelet-certificate-authority), and the cluster CA as the client CA.
func TLSFromPKI(b *pki.Bundle, ip net.IP) (tls.Certificate, *x509.CertPool, error) {
	certPEM, keyPEM, err := pki.SignServing(b, "kplex-kubelet-proxy", []net.IP{ip}, nil, servingValidity)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("kubelet proxy serving certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("kubelet proxy serving certificate: %w", err)
	}
	caPEM, err := os.ReadFile(b.CACert())
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("kubelet proxy client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return tls.Certificate{}, nil, fmt.Errorf("kubelet proxy client CA: no certificate in %s", b.CACert())
	}
	return cert, pool, nil
}

package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// backdate tolerates clocks a little behind ours, as kubeadm does.
const backdate = 5 * time.Minute

// keyPair is a certificate with its private key, parsed and encoded.
type keyPair struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	keyPEM  []byte
}

// certSpec describes the certificate to issue; it is also what an existing
// certificate is checked against.
type certSpec struct {
	cn       string
	orgs     []string
	usages   []x509.ExtKeyUsage
	dnsNames []string
	ips      []net.IP
	validity time.Duration
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// newCA creates a self-signed CA with a fresh key.
func newCA(cn string, now time.Time) (*keyPair, error) {
	key, err := newECKey()
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return selfSign(cn, key, nil, now)
}

// selfSign signs a CA certificate for key. Renewing with the same key and
// subjectKeyID keeps every certificate issued by the old one valid.
func selfSign(cn string, key crypto.Signer, subjectKeyID []byte, now time.Time) (*keyPair, error) {
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          subjectKeyID,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("sign CA %s: %w", cn, err)
	}
	return newKeyPair(der, key)
}

// issue creates a fresh key and a certificate for it signed by ca.
func issue(ca *keyPair, spec certSpec, now time.Time) (*keyPair, error) {
	key, err := newECKey()
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.cn, Organization: spec.orgs},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(spec.validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  spec.usages,
		DNSNames:     spec.dnsNames,
		IPAddresses:  spec.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", spec.cn, err)
	}
	return newKeyPair(der, key)
}

func newKeyPair(der []byte, key crypto.Signer) (*keyPair, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return &keyPair{cert: cert, certPEM: encodeCert(der), key: key, keyPEM: keyPEM}, nil
}

// SignClient issues a fresh client certificate and key from the cluster CA,
// e.g. to hand out credentials to a tenant. The files in b are not changed.
func SignClient(b *Bundle, cn string, orgs []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	return signFromCA(b, clientSpec(cn, orgs, validity))
}

// SignServing issues a fresh serving certificate and key from the cluster CA for the
// given IP addresses and DNS names, e.g. for kplexd's kubelet proxy, which the API server
// verifies against the cluster CA. The files in b are not changed.
func SignServing(b *Bundle, cn string, ips []net.IP, dnsNames []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if len(ips) == 0 && len(dnsNames) == 0 {
		return nil, nil, fmt.Errorf("pki: sign serving %s: no IP address or DNS name", cn)
	}
	return signFromCA(b, certSpec{cn: cn, usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, ips: ips, dnsNames: dnsNames, validity: validity})
}

func signFromCA(b *Bundle, spec certSpec) (certPEM, keyPEM []byte, err error) {
	if spec.cn == "" {
		return nil, nil, fmt.Errorf("pki: sign: empty common name")
	}
	if spec.validity <= 0 {
		return nil, nil, fmt.Errorf("pki: sign %s: validity %s is not positive", spec.cn, spec.validity)
	}
	ca, err := loadCA(b.CACert(), b.CAKey())
	if err != nil {
		return nil, nil, fmt.Errorf("pki: sign %s: %w", spec.cn, err)
	}
	kp, err := issue(ca, spec, b.now())
	if err != nil {
		return nil, nil, fmt.Errorf("pki: sign %s: %w", spec.cn, err)
	}
	return kp.certPEM, kp.keyPEM, nil
}

func clientSpec(cn string, orgs []string, validity time.Duration) certSpec {
	return certSpec{
		cn:       cn,
		orgs:     orgs,
		usages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		validity: validity,
	}
}

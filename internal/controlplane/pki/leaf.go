package pki

import (
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/go-logr/logr"

	"github.com/kplex-dev/kplex/internal/activity"
)

// leaf is a certificate issued by one of the CAs, stored as name.crt/name.key.
type leaf struct {
	name string
	spec certSpec
}

// clusterLeaves are the certificates issued by the cluster CA.
func clusterLeaves(opts Options) []leaf {
	client := func(name, cn string, orgs ...string) leaf {
		return leaf{name: name, spec: clientSpec(cn, orgs, leafValidity)}
	}
	return []leaf{
		{name: "apiserver", spec: servingSpec(opts)},
		client(ClientAdmin, "kplex-admin", "system:masters"),
		client(ClientControllerManager, "system:kube-controller-manager"),
		client(ClientScheduler, "system:kube-scheduler"),
		client(ClientAPIServerKubeletClient, APIServerKubeletClientCN, "system:masters"),
		client(ClientKplex, "kplex:syncer", activity.ComponentsGroup), // its requests are not the tenant's activity
	}
}

// frontProxyLeaves are the certificates issued by the front-proxy CA.
func frontProxyLeaves() []leaf {
	return []leaf{{name: "front-proxy-client", spec: clientSpec("front-proxy-client", nil, leafValidity)}}
}

func servingSpec(opts Options) certSpec {
	dns := []string{
		"localhost",
		"kubernetes",
		"kubernetes.default",
		"kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local",
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, opts.ServiceIP}
	for _, san := range opts.SANs {
		if ip := net.ParseIP(san); ip != nil {
			ips = appendIP(ips, ip)
		} else if !slices.Contains(dns, san) {
			dns = append(dns, san)
		}
	}
	return certSpec{
		cn:       "kube-apiserver",
		usages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		dnsNames: dns,
		ips:      ips,
		validity: leafValidity,
	}
}

func appendIP(ips []net.IP, ip net.IP) []net.IP {
	if slices.ContainsFunc(ips, ip.Equal) {
		return ips
	}
	return append(ips, ip)
}

func leafNames(leaves []leaf) []string {
	names := make([]string, len(leaves))
	for i, l := range leaves {
		names[i] = l.name
	}
	return names
}

// ensureLeaf keeps a valid certificate untouched and otherwise issues a new
// one from ca. Leaves are cheap to replace: whoever trusts the CA trusts the
// new one, so a damaged leaf is never an error.
func ensureLeaf(b *Bundle, ca *keyPair, l leaf, now time.Time, log logr.Logger) error {
	certPath, keyPath := b.path(l.name+".crt"), b.path(l.name+".key")
	certData, err := readOptional(certPath)
	if err != nil {
		return err
	}
	keyData, err := readOptional(keyPath)
	if err != nil {
		return err
	}
	reason := reissueReason(ca, l.spec, certData, keyData, now)
	if reason == "" {
		return nil
	}
	kp, err := issue(ca, l.spec, now)
	if err != nil {
		return err
	}
	// Key first: a crash in between leaves a pair that does not match,
	// which the next start re-issues.
	if err := writeAtomic(keyPath, kp.keyPEM, keyMode); err != nil {
		return err
	}
	if err := writeAtomic(certPath, kp.certPEM, certMode); err != nil {
		return err
	}
	log.Info("Issued certificate", "cert", certPath, "reason", reason)
	return nil
}

// reissueReason says why the stored pair cannot be kept, or "" if it can.
func reissueReason(ca *keyPair, spec certSpec, certData, keyData []byte, now time.Time) string {
	if certData == nil || keyData == nil {
		return "missing"
	}
	cert, err := parseCert(certData)
	if err != nil {
		return fmt.Sprintf("certificate unreadable: %v", err)
	}
	key, err := parseKey(keyData)
	if err != nil {
		return fmt.Sprintf("key unreadable: %v", err)
	}
	if !samePublicKey(cert.PublicKey, key) {
		return "key does not match certificate"
	}
	if err := cert.CheckSignatureFrom(ca.cert); err != nil {
		return "not signed by the current CA"
	}
	if !now.Add(renewBefore).Before(cert.NotAfter) {
		return fmt.Sprintf("expires %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if cert.Subject.CommonName != spec.cn {
		return "common name changed"
	}
	if !sameSet(cert.Subject.Organization, spec.orgs) {
		return "organizations changed"
	}
	if !sameSet(cert.ExtKeyUsage, spec.usages) {
		return "key usage changed"
	}
	// Only missing names count: names no longer requested stay until the
	// next re-issue, so a restart with fewer flags does not churn the cert.
	for _, name := range spec.dnsNames {
		if !slices.Contains(cert.DNSNames, name) {
			return "missing SAN " + name
		}
	}
	for _, ip := range spec.ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return "missing SAN " + ip.String()
		}
	}
	return ""
}

func sameSet[T comparable](a, b []T) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

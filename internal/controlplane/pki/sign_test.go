package pki

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSignClient(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	b := mustEnsure(t, opts)
	before := snapshot(t, opts.Dir)

	certPEM, keyPEM, err := SignClient(b, "alice", []string{"team-a", "system:masters"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := parseKey(keyPEM)
	if err != nil || !samePublicKey(cert.PublicKey, key) {
		t.Fatalf("key does not match certificate: %v", err)
	}
	if cert.Subject.CommonName != "alice" || !slices.Equal(cert.Subject.Organization, []string{"team-a", "system:masters"}) {
		t.Errorf("subject = %v", cert.Subject)
	}
	if got := cert.NotAfter.Sub(t0); got != time.Hour {
		t.Errorf("validity = %s, want 1h", got)
	}
	path := filepath.Join(t.TempDir(), "alice.crt")
	if err := os.WriteFile(path, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := verify(t, path, b.CACert(), x509.ExtKeyUsageClientAuth, t0); err != nil {
		t.Error(err)
	}
	if err := verify(t, path, b.CACert(), x509.ExtKeyUsageServerAuth, t0); err == nil {
		t.Error("client cert verifies for server auth")
	}
	if changed := changedFiles(before, snapshot(t, opts.Dir)); len(changed) > 0 {
		t.Errorf("SignClient changed %v", changed)
	}
}

func TestSignClientErrors(t *testing.T) {
	t.Parallel()
	b := mustEnsure(t, testOptions(t))
	tests := []struct {
		name     string
		b        *Bundle
		cn       string
		validity time.Duration
		want     string
	}{
		{"empty CN", b, "", time.Hour, "empty common name"},
		{"zero validity", b, "alice", 0, "not positive"},
		{"no CA", &Bundle{Dir: t.TempDir()}, "alice", time.Hour, "no CA in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := SignClient(tt.b, tt.cn, nil, tt.validity)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSignServing(t *testing.T) {
	t.Parallel()
	b := mustEnsure(t, testOptions(t))
	if _, _, err := SignServing(b, "kubelet-proxy", nil, nil, time.Hour); err == nil || !strings.Contains(err.Error(), "no IP address or DNS name") {
		t.Errorf("no names: err = %v", err)
	}
	certPEM, _, err := SignServing(b, "kubelet-proxy", []net.IP{net.ParseIP("127.0.0.1")}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "proxy.crt")
	if err := os.WriteFile(path, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := verify(t, path, b.CACert(), x509.ExtKeyUsageServerAuth, t0); err != nil {
		t.Error(err)
	}
	if err := verify(t, path, b.CACert(), x509.ExtKeyUsageClientAuth, t0); err == nil {
		t.Error("serving cert verifies for client auth")
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || len(cert.DNSNames) != 0 {
		t.Errorf("SANs = %v %v", cert.IPAddresses, cert.DNSNames)
	}
}

package pki

import (
	"crypto/rsa"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

func TestEnsureCreatesFiles(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	mustEnsure(t, opts)

	fi, err := os.Stat(opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("dir mode = %o, want 700", got)
	}
	want := map[string]os.FileMode{
		"ca.crt": 0o644, "ca.key": 0o600,
		"front-proxy-ca.crt": 0o644, "front-proxy-ca.key": 0o600,
		"apiserver.crt": 0o644, "apiserver.key": 0o600,
		"sa.key": 0o600, "sa.pub": 0o644,
		"admin.crt": 0o644, "admin.key": 0o600,
		"controller-manager.crt": 0o644, "controller-manager.key": 0o600,
		"scheduler.crt": 0o644, "scheduler.key": 0o600,
		"apiserver-kubelet-client.crt": 0o644, "apiserver-kubelet-client.key": 0o600,
		"kplex.crt": 0o644, "kplex.key": 0o600,
		"front-proxy-client.crt": 0o644, "front-proxy-client.key": 0o600,
	}
	got := snapshot(t, opts.Dir)
	for name, mode := range want {
		s, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if s.info.Mode().Perm() != mode {
			t.Errorf("%s mode = %o, want %o", name, s.info.Mode().Perm(), mode)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected file %s", name)
		}
	}
}

func TestBundlePaths(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	b := mustEnsure(t, opts)
	paths := []string{
		b.CACert(), b.CAKey(), b.ServingCert(), b.ServingKey(), b.SAKey(), b.SAPub(),
		b.FrontProxyCACert(), b.FrontProxyCAKey(), b.FrontProxyClientCert(), b.FrontProxyClientKey(),
	}
	for _, name := range []string{ClientAdmin, ClientControllerManager, ClientScheduler, ClientAPIServerKubeletClient, ClientKplex} {
		cert, key := b.Client(name)
		paths = append(paths, cert, key)
	}
	for _, p := range paths {
		if filepath.Dir(p) != opts.Dir {
			t.Errorf("%s is not in %s", p, opts.Dir)
		}
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}

func TestServingCertSANs(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	opts.SANs = []string{"10.0.0.5", "api.example.com", "2001:db8::1", "localhost"}
	b := mustEnsure(t, opts)
	cert := readCert(t, b.ServingCert())

	for _, name := range []string{
		"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local", "api.example.com",
	} {
		if !slices.Contains(cert.DNSNames, name) {
			t.Errorf("DNS SAN %s missing from %v", name, cert.DNSNames)
		}
	}
	if n := len(cert.DNSNames); n != 6 {
		t.Errorf("%d DNS SANs %v, want 6 (no duplicates)", n, cert.DNSNames)
	}
	for _, ip := range []string{"127.0.0.1", "::1", "10.96.0.1", "10.0.0.5", "2001:db8::1"} {
		if !slices.ContainsFunc(cert.IPAddresses, net.ParseIP(ip).Equal) {
			t.Errorf("IP SAN %s missing from %v", ip, cert.IPAddresses)
		}
	}
	for _, host := range []string{"kubernetes.default.svc", "10.96.0.1", "api.example.com"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("VerifyHostname(%s): %v", host, err)
		}
	}
}

func TestChainsVerify(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	b := mustEnsure(t, opts)
	tests := []struct {
		name  string
		ca    string
		usage x509.ExtKeyUsage
		cn    string
		orgs  []string
	}{
		{"apiserver", b.CACert(), x509.ExtKeyUsageServerAuth, "kube-apiserver", nil},
		{"admin", b.CACert(), x509.ExtKeyUsageClientAuth, "kplex-admin", []string{"system:masters"}},
		{"controller-manager", b.CACert(), x509.ExtKeyUsageClientAuth, "system:kube-controller-manager", nil},
		{"scheduler", b.CACert(), x509.ExtKeyUsageClientAuth, "system:kube-scheduler", nil},
		{"apiserver-kubelet-client", b.CACert(), x509.ExtKeyUsageClientAuth, "kube-apiserver-kubelet-client", []string{"system:masters"}},
		{"kplex", b.CACert(), x509.ExtKeyUsageClientAuth, "kplex:syncer", []string{"kplex:components"}},
		{"front-proxy-client", b.FrontProxyCACert(), x509.ExtKeyUsageClientAuth, "front-proxy-client", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(opts.Dir, tt.name+".crt")
			if err := verify(t, path, tt.ca, tt.usage, t0); err != nil {
				t.Errorf("verify: %v", err)
			}
			cert := readCert(t, path)
			if cert.Subject.CommonName != tt.cn || !slices.Equal(cert.Subject.Organization, tt.orgs) {
				t.Errorf("subject = %v, want CN=%s O=%v", cert.Subject, tt.cn, tt.orgs)
			}
			if got, want := cert.NotAfter.Sub(t0), leafValidity; got != want {
				t.Errorf("validity = %s, want %s", got, want)
			}
			other := b.FrontProxyCACert()
			if tt.ca == other {
				other = b.CACert()
			}
			if err := verify(t, path, other, tt.usage, t0); err == nil {
				t.Errorf("verifies against the other CA")
			}
		})
	}
	ca := readCert(t, b.CACert())
	if ca.Subject.CommonName != "kplex-test-ca" || ca.NotAfter.Sub(t0) != caValidity {
		t.Errorf("CA subject %v, not after %s", ca.Subject, ca.NotAfter)
	}
	if err := verify(t, b.ServingCert(), b.CACert(), x509.ExtKeyUsageClientAuth, t0); err == nil {
		t.Error("serving cert verifies for client auth")
	}
}

func TestEnsureIsIdempotent(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	opts.SANs = []string{"api.example.com", "10.0.0.5"}
	mustEnsure(t, opts)
	before := snapshot(t, opts.Dir)
	mustEnsure(t, at(opts, t0.Add(100*day)))
	if changed := changedFiles(before, snapshot(t, opts.Dir)); len(changed) > 0 {
		t.Errorf("second Ensure changed %v", changed)
	}
}

func TestSANChangeReissuesOnlyServingCert(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"new DNS SAN", func(o *Options) { o.SANs = append(o.SANs, "new.example.com") }, "new.example.com"},
		{"new IP SAN", func(o *Options) { o.SANs = append(o.SANs, "192.0.2.7") }, "192.0.2.7"},
		{"new service IP", func(o *Options) { o.ServiceIP = net.ParseIP("10.43.0.1") }, "10.43.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions(t)
			opts.SANs = []string{"api.example.com"}
			b := mustEnsure(t, opts)
			before := snapshot(t, opts.Dir)

			tt.change(&opts)
			mustEnsure(t, opts)
			changed := changedFiles(before, snapshot(t, opts.Dir))
			slices.Sort(changed)
			if !slices.Equal(changed, []string{"apiserver.crt", "apiserver.key"}) {
				t.Errorf("changed %v, want only the serving cert and key", changed)
			}
			cert := readCert(t, b.ServingCert())
			if err := cert.VerifyHostname(tt.want); err != nil {
				t.Error(err)
			}
			if err := cert.VerifyHostname("api.example.com"); err != nil {
				t.Error(err)
			}
			if err := verify(t, b.ServingCert(), b.CACert(), x509.ExtKeyUsageServerAuth, t0); err != nil {
				t.Errorf("new serving cert does not verify against the CA: %v", err)
			}

			// The SAN is now present: a further start changes nothing.
			before = snapshot(t, opts.Dir)
			mustEnsure(t, opts)
			if changed := changedFiles(before, snapshot(t, opts.Dir)); len(changed) > 0 {
				t.Errorf("third Ensure changed %v", changed)
			}
		})
	}
}

func TestRemovedSANKeepsServingCert(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	opts.SANs = []string{"api.example.com"}
	mustEnsure(t, opts)
	before := snapshot(t, opts.Dir)
	opts.SANs = nil
	mustEnsure(t, opts)
	if changed := changedFiles(before, snapshot(t, opts.Dir)); len(changed) > 0 {
		t.Errorf("changed %v", changed)
	}
}

func TestIncompleteCAWithoutLeavesIsRegenerated(t *testing.T) {
	t.Parallel()
	src := mustEnsure(t, testOptions(t))
	caCert, err := os.ReadFile(src.CACert())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"truncated ca.crt", func(t *testing.T, dir string) {
			copyFile(t, src.CAKey(), filepath.Join(dir, "ca.key"))
			os.WriteFile(filepath.Join(dir, "ca.crt"), caCert[:len(caCert)/2], 0o644)
		}},
		{"empty ca.crt", func(t *testing.T, dir string) {
			copyFile(t, src.CAKey(), filepath.Join(dir, "ca.key"))
			os.WriteFile(filepath.Join(dir, "ca.crt"), nil, 0o644)
		}},
		{"ca.key without ca.crt", func(t *testing.T, dir string) {
			copyFile(t, src.CAKey(), filepath.Join(dir, "ca.key"))
		}},
		{"ca.crt without ca.key", func(t *testing.T, dir string) {
			copyFile(t, src.CACert(), filepath.Join(dir, "ca.crt"))
		}},
		{"front-proxy-ca.key without cert", func(t *testing.T, dir string) {
			copyFile(t, src.FrontProxyCAKey(), filepath.Join(dir, "front-proxy-ca.key"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions(t)
			if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, opts.Dir)
			b := mustEnsure(t, opts)
			if err := verify(t, b.ServingCert(), b.CACert(), x509.ExtKeyUsageServerAuth, t0); err != nil {
				t.Error(err)
			}
			if err := verify(t, b.FrontProxyClientCert(), b.FrontProxyCACert(), x509.ExtKeyUsageClientAuth, t0); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestBrokenCAWithLeavesFails(t *testing.T) {
	t.Parallel()
	other := mustEnsure(t, testOptions(t))
	tests := []struct {
		name    string
		damage  func(t *testing.T, b *Bundle)
		wantErr string
	}{
		{"mismatched ca.key", func(t *testing.T, b *Bundle) {
			copyFile(t, other.CAKey(), b.CAKey())
		}, "pki: ca.key does not match ca.crt in %s: restore it or delete the directory to start a new cluster"},
		{"truncated ca.crt", func(t *testing.T, b *Bundle) {
			data, _ := os.ReadFile(b.CACert())
			os.WriteFile(b.CACert(), data[:20], 0o644)
		}, "pki: ca.crt is not a valid certificate"},
		{"missing ca.key", func(t *testing.T, b *Bundle) {
			os.Remove(b.CAKey())
		}, "pki: ca.key is missing in %s: restore it"},
		{"replaced front-proxy-ca.crt", func(t *testing.T, b *Bundle) {
			copyFile(t, other.FrontProxyCACert(), b.FrontProxyCACert())
		}, "pki: front-proxy-ca.key does not match front-proxy-ca.crt in %s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions(t)
			b := mustEnsure(t, opts)
			tt.damage(t, b)
			before := snapshot(t, opts.Dir)
			_, err := Ensure(opts)
			want := tt.wantErr
			if strings.Contains(want, "%s") {
				want = strings.ReplaceAll(want, "%s", opts.Dir)
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to contain %q", err, want)
			}
			if changed := changedFiles(before, snapshot(t, opts.Dir)); len(changed) > 0 {
				t.Errorf("failed Ensure changed %v", changed)
			}
		})
	}
}

func TestDamagedLeafIsReissued(t *testing.T) {
	t.Parallel()
	other := mustEnsure(t, testOptions(t))
	tests := []struct {
		name   string
		damage func(t *testing.T, b *Bundle)
	}{
		{"truncated cert", func(t *testing.T, b *Bundle) {
			cert, _ := b.Client(ClientAdmin)
			os.WriteFile(cert, []byte("-----BEGIN CERT"), 0o644)
		}},
		{"missing key", func(t *testing.T, b *Bundle) {
			_, key := b.Client(ClientAdmin)
			os.Remove(key)
		}},
		{"key of another cert", func(t *testing.T, b *Bundle) {
			_, key := b.Client(ClientAdmin)
			_, otherKey := other.Client(ClientAdmin)
			copyFile(t, otherKey, key)
		}},
		{"signed by another CA", func(t *testing.T, b *Bundle) {
			cert, key := b.Client(ClientAdmin)
			otherCert, otherKey := other.Client(ClientAdmin)
			copyFile(t, otherCert, cert)
			copyFile(t, otherKey, key)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions(t)
			b := mustEnsure(t, opts)
			tt.damage(t, b)
			before := snapshot(t, opts.Dir)
			mustEnsure(t, opts)
			changed := changedFiles(before, snapshot(t, opts.Dir))
			slices.Sort(changed)
			if !slices.Equal(changed, []string{"admin.crt", "admin.key"}) {
				t.Errorf("changed %v, want admin.crt and admin.key", changed)
			}
			cert, _ := b.Client(ClientAdmin)
			if err := verify(t, cert, b.CACert(), x509.ExtKeyUsageClientAuth, t0); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestExpiringCertsAreReissued(t *testing.T) {
	t.Parallel()
	leaves := []string{
		"apiserver.crt", "apiserver.key", "admin.crt", "admin.key",
		"controller-manager.crt", "controller-manager.key", "scheduler.crt", "scheduler.key",
		"apiserver-kubelet-client.crt", "apiserver-kubelet-client.key", "kplex.crt", "kplex.key",
		"front-proxy-client.crt", "front-proxy-client.key",
	}
	tests := []struct {
		name  string
		after time.Duration
		want  []string
	}{
		{"31 days left", leafValidity - 31*day, nil},
		{"29 days left", leafValidity - 29*day, leaves},
		{"expired", leafValidity + day, leaves},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions(t)
			b := mustEnsure(t, opts)
			before := snapshot(t, opts.Dir)
			now := t0.Add(tt.after)
			mustEnsure(t, at(opts, now))
			changed := changedFiles(before, snapshot(t, opts.Dir))
			slices.Sort(changed)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(changed, want) {
				t.Errorf("changed %v, want %v", changed, want)
			}
			if err := verify(t, b.ServingCert(), b.CACert(), x509.ExtKeyUsageServerAuth, now); err != nil {
				t.Error(err)
			}
			if err := verify(t, b.FrontProxyClientCert(), b.FrontProxyCACert(), x509.ExtKeyUsageClientAuth, now); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestExpiringCAIsRenewedWithSameKey(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	b := mustEnsure(t, opts)
	// Leaves issued 100 days before the CA expires outlive it.
	mustEnsure(t, at(opts, t0.Add(caValidity-100*day)))
	before := snapshot(t, opts.Dir)

	now := t0.Add(caValidity - 10*day)
	mustEnsure(t, at(opts, now))
	changed := changedFiles(before, snapshot(t, opts.Dir))
	slices.Sort(changed)
	if !slices.Equal(changed, []string{"ca.crt", "front-proxy-ca.crt"}) {
		t.Fatalf("changed %v, want only the CA certificates", changed)
	}
	ca := readCert(t, b.CACert())
	if !ca.NotAfter.Equal(now.Add(caValidity)) {
		t.Errorf("renewed CA not after %s", ca.NotAfter)
	}
	// The leaves issued by the old CA certificate verify against the new one,
	// also once the old one has expired.
	for _, when := range []time.Time{now, t0.Add(caValidity + 10*day)} {
		for _, name := range []string{ClientAdmin, ClientKplex} {
			cert, _ := b.Client(name)
			if err := verify(t, cert, b.CACert(), x509.ExtKeyUsageClientAuth, when); err != nil {
				t.Errorf("%s at %s: %v", name, when, err)
			}
		}
	}
}

func TestKeyModeIsRestricted(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	b := mustEnsure(t, opts)
	_, adminKey := b.Client(ClientAdmin)
	for _, p := range []string{b.CAKey(), b.SAKey(), adminKey} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, opts.Dir)
	mustEnsure(t, opts)
	after := snapshot(t, opts.Dir)
	for _, p := range []string{b.CAKey(), b.SAKey(), adminKey} {
		name := filepath.Base(p)
		if got := after[name].info.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %o, want 600", name, got)
		}
		if string(after[name].data) != string(before[name].data) || !os.SameFile(after[name].info, before[name].info) {
			t.Errorf("%s was rewritten, want only a chmod", name)
		}
	}
}

func TestStaleTempFilesAreRemoved(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	mustEnsure(t, opts)
	stale := filepath.Join(opts.Dir, ".ca.key"+tempMarker+"12345")
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustEnsure(t, opts)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("%s still exists: %v", stale, err)
	}
}

func TestServiceAccountKey(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	b := mustEnsure(t, opts)
	keyData, _ := os.ReadFile(b.SAKey())
	pubData, _ := os.ReadFile(b.SAPub())
	key, err := parseKey(keyData)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok || rsaKey.N.BitLen() != 2048 {
		t.Fatalf("sa.key is %T, want RSA 2048", key)
	}
	pub, err := parsePublicKey(pubData)
	if err != nil || !samePublicKey(pub, key) {
		t.Fatalf("sa.pub does not match sa.key: %v", err)
	}

	// sa.pub is derived: a lost one is written again, identical.
	os.Remove(b.SAPub())
	mustEnsure(t, opts)
	if again, _ := os.ReadFile(b.SAPub()); string(again) != string(pubData) {
		t.Error("rewritten sa.pub differs")
	}

	// Without sa.key, tokens signed by it can no longer be verified.
	os.Remove(b.SAKey())
	_, err = Ensure(opts)
	if err == nil || !strings.Contains(err.Error(), "sa.key is missing but sa.pub exists in "+opts.Dir) {
		t.Errorf("err = %v", err)
	}

	// Both gone is a first start that never finished.
	os.Remove(b.SAPub())
	mustEnsure(t, opts)
	if newKey, _ := os.ReadFile(b.SAKey()); string(newKey) == string(keyData) {
		t.Error("sa.key not regenerated")
	}
}

func TestEnsureValidatesOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no dir", func(o *Options) { o.Dir = "" }, "no directory"},
		{"no cluster name", func(o *Options) { o.ClusterName = "" }, "no cluster name"},
		{"no service IP", func(o *Options) { o.ServiceIP = nil }, "no service IP"},
		{"empty SAN", func(o *Options) { o.SANs = []string{"a.example.com", ""} }, "empty SAN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t)
			tt.change(&opts)
			if _, err := Ensure(opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kplex-dev/kplex/api/v1alpha1"
)

const testDomain = "kplex.gateway"

// testCA signs one serving certificate per tenant backend.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) serving(t *testing.T, dnsName string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: dnsName},
		DNSNames: []string{dnsName}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// testEnv is a gateway on loopback in front of one HTTPS backend per tenant, each serving
// its own name and holding a certificate for <tenant>.<domain> only.
type testEnv struct {
	t        *testing.T
	ca       *testCA
	c        client.Client
	gw       *Gateway
	addr     string
	backends map[string]string // tenant -> backend address
	wakes    atomic.Int32      // patches of VirtualClusters
	dials    atomic.Int32
}

func newTestEnv(t *testing.T, opts Options, tenants ...string) *testEnv {
	t.Helper()
	e := &testEnv{t: t, ca: newTestCA(t), backends: map[string]string{}}
	for _, vc := range tenants {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, vc)
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{e.ca.serving(t, ServerName(vc, testDomain))}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		e.backends[vc] = srv.Listener.Addr().String()
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	e.c = fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&v1alpha1.VirtualCluster{}).
		WithInterceptorFuncs(interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			e.wakes.Add(1)
			return c.Patch(ctx, obj, patch, opts...)
		}}).Build()
	opts.Domain = testDomain
	opts.Log = testLogger(t)
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	opts.Dial = func(ctx context.Context, vc string) (net.Conn, error) {
		e.dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", e.backends[vc])
	}
	gw, err := New(e.c, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return e
}

// cluster creates VirtualCluster name in phase with the given annotations.
func (e *testEnv) cluster(name string, phase v1alpha1.Phase, annotations map[string]string) {
	e.t.Helper()
	vc := &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
	ctx := context.Background()
	if err := e.c.Create(ctx, vc); err != nil {
		e.t.Fatal(err)
	}
	e.setPhase(name, phase)
}

func (e *testEnv) setPhase(name string, phase v1alpha1.Phase) {
	e.t.Helper()
	ctx := context.Background()
	vc := &v1alpha1.VirtualCluster{}
	if err := e.c.Get(ctx, client.ObjectKey{Name: name}, vc); err != nil {
		e.t.Fatal(err)
	}
	vc.Status.Phase = phase
	if err := e.c.Status().Update(ctx, vc); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) get(name string) *v1alpha1.VirtualCluster {
	e.t.Helper()
	vc := &v1alpha1.VirtualCluster{}
	if err := e.c.Get(context.Background(), client.ObjectKey{Name: name}, vc); err != nil {
		e.t.Fatal(err)
	}
	return vc
}

// httpsGet sends GET / through the gateway with server name sni on a connection of its
// own, verifying the backend's certificate for sni; it returns the body.
func (e *testEnv) httpsGet(sni string) (string, error) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", e.addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: e.ca.pool, ServerName: sni},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Get("https://gateway/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// rawConn opens a TCP connection to the gateway.
func (e *testEnv) rawConn() net.Conn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin asserts that the gateway closes c, without sending a byte, within d.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(d + 5*time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil {
		t.Fatalf("read %d bytes, err %v: want the connection closed", n, err)
	}
	if took := time.Since(start); took > d {
		t.Fatalf("closed after %s, want within %s (err %v)", took, d, err)
	}
}

// tenantsHeld is the number of server names the gateway holds state for.
func (g *Gateway) tenantsHeld() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.tenants)
}

func testLogger(t *testing.T) logr.Logger {
	return testr.NewWithOptions(t, testr.Options{Verbosity: 1})
}

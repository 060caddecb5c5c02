package gateway

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/api/v1alpha1"
)

func TestRoutesByServerName(t *testing.T) {
	e := newTestEnv(t, Options{}, "a", "b")
	e.cluster("a", v1alpha1.PhaseReady, nil)
	e.cluster("b", v1alpha1.PhaseReady, nil)
	// The client verifies the backend's certificate for the name it sent: the ClientHello
	// reached the backend unchanged and the TLS session is the backend's.
	for sni, want := range map[string]string{
		"a.kplex.gateway": "a",
		"b.kplex.gateway": "b",
		"A.Kplex.GATEWAY": "a", // DNS names do not care about case
	} {
		got, err := e.httpsGet(sni)
		if err != nil || got != want {
			t.Errorf("server name %s: got %q, %v; want %q", sni, got, err, want)
		}
	}
	if n := e.wakes.Load(); n != 0 {
		t.Errorf("%d patches of ready clusters, want none", n)
	}
}

// A tenant that sends another tenant's name reaches that tenant's API server, whose TLS
// and authentication it then faces without credentials: the gateway is not a wall
// between tenants, the API server is. This test pins that the gateway never serves one
// tenant's name with another tenant's backend.
func TestOtherTenantsNameReachesOnlyThatTenant(t *testing.T) {
	e := newTestEnv(t, Options{}, "a", "b")
	e.cluster("a", v1alpha1.PhaseReady, nil)
	e.cluster("b", v1alpha1.PhaseReady, nil)
	e.backends["b"] = e.backends["a"] // b's Service now answers with a's certificate
	if _, err := e.httpsGet("b.kplex.gateway"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("got %v, want a certificate error: a's API server cannot pass for b", err)
	}
}

func TestRefusedServerNames(t *testing.T) {
	e := newTestEnv(t, Options{}, "a")
	e.cluster("a", v1alpha1.PhaseReady, nil)
	for _, sni := range []string{
		"nope.kplex.gateway",      // no such virtual cluster
		"a.other.domain",          // not the gateway's domain
		"x.a.kplex.gateway",       // two labels in front of the domain
		"kplex.gateway",           // the domain alone
		"127.0.0.1",               // an IP: Go sends no server name at all
		"a.kplex.gateway.evil.io", // the domain is a suffix, not a substring
	} {
		start := time.Now()
		if got, err := e.httpsGet(sni); err == nil {
			t.Errorf("server name %s: got %q, want the connection closed", sni, got)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("server name %s: closed after %s, want at once", sni, took)
		}
	}
	if n := e.dials.Load(); n != 0 {
		t.Errorf("%d backend dials for refused names, want none", n)
	}
}

func TestNotTLSClosedFast(t *testing.T) {
	e := newTestEnv(t, Options{})
	for _, junk := range []string{"GET / HTTP/1.1\r\nHost: a.kplex.gateway\r\n\r\n", "SSH-2.0-OpenSSH_9.6\r\n", "\x16\x03\x09\x00\x10"} {
		c := e.rawConn()
		if _, err := c.Write([]byte(junk)); err != nil {
			t.Fatal(err)
		}
		closedWithin(t, c, time.Second)
	}
}

func TestSlowHelloTimedOut(t *testing.T) {
	e := newTestEnv(t, Options{HelloTimeout: 300 * time.Millisecond})
	hello := clientHello(t, "a.kplex.gateway")
	c := e.rawConn()
	// Slow-loris: a byte every 50 ms keeps the connection busy but never completes.
	go func() {
		for _, b := range hello {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	closedWithin(t, c, 2*time.Second)
}

func TestOversizedHelloRefused(t *testing.T) {
	e := newTestEnv(t, Options{HelloTimeout: time.Minute})
	c := e.rawConn()
	// A handshake record of 16 KiB announcing a 1 MiB ClientHello: refused on the header,
	// without waiting for the bytes or the hello timeout.
	if _, err := c.Write([]byte{22, 3, 1, 0x40, 0, 1, 0x10, 0, 0}); err != nil {
		t.Fatal(err)
	}
	closedWithin(t, c, time.Second)
}

func TestWakeOnceForConcurrentConnections(t *testing.T) {
	e := newTestEnv(t, Options{}, "s")
	slept := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	e.cluster("s", v1alpha1.PhaseSleeping, map[string]string{v1alpha1.AnnotationSleepRequested: slept})
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := e.httpsGet("s.kplex.gateway")
			if err == nil && got != "s" {
				err = &unexpected{got}
			}
			errs <- err
		}()
	}
	// Every connection is held; one wake request is written, later than the sleep one.
	deadline := time.Now().Add(10 * time.Second)
	for e.get("s").Annotations[v1alpha1.AnnotationWakeRequested] == "" {
		if time.Now().After(deadline) {
			t.Fatal("no wake request written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let every connection join the wait
	vc := e.get("s")
	woke, err := time.Parse(time.RFC3339, vc.Annotations[v1alpha1.AnnotationWakeRequested])
	if err != nil || !woke.After(time.Now().Add(-time.Minute)) {
		t.Fatalf("wake request %q (%v): want a time after the sleep request %s", vc.Annotations[v1alpha1.AnnotationWakeRequested], err, slept)
	}
	if got := e.wakes.Load(); got != 1 {
		t.Fatalf("%d wake patches for %d connections, want 1", got, n)
	}
	if d := e.dials.Load(); d != 0 {
		t.Fatalf("%d backend dials before the cluster is ready", d)
	}
	// The operator wakes the cluster; every held connection goes through.
	e.setPhase("s", v1alpha1.PhaseWaking)
	time.Sleep(100 * time.Millisecond)
	e.setPhase("s", v1alpha1.PhaseReady)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := e.wakes.Load(); got != 1 {
		t.Errorf("%d wake patches, want 1", got)
	}
	waitFor(t, "the gateway forgets the tenant", func() bool { return e.gw.tenantsHeld() == 0 })
}

type unexpected struct{ body string }

func (u *unexpected) Error() string { return "unexpected body " + u.body }

func TestWakeTimeoutClosesCleanly(t *testing.T) {
	e := newTestEnv(t, Options{WakeTimeout: 500 * time.Millisecond}, "s")
	e.cluster("s", v1alpha1.PhaseSleeping, map[string]string{v1alpha1.AnnotationSleepRequested: time.Now().UTC().Format(time.RFC3339)})
	start := time.Now()
	if got, err := e.httpsGet("s.kplex.gateway"); err == nil {
		t.Fatalf("got %q, want the held connection closed", got)
	}
	if took := time.Since(start); took < 500*time.Millisecond || took > 3*time.Second {
		t.Fatalf("closed after %s, want about the wake timeout", took)
	}
	if e.dials.Load() != 0 {
		t.Fatal("dialed a cluster that is not ready")
	}
	waitFor(t, "the gateway forgets the tenant", func() bool { return e.gw.tenantsHeld() == 0 })
	// A later connection starts a new wait, and goes through once the cluster is ready.
	e.setPhase("s", v1alpha1.PhaseReady)
	if got, err := e.httpsGet("s.kplex.gateway"); err != nil || got != "s" {
		t.Fatalf("after ready: %q, %v", got, err)
	}
}

func TestDeletingClusterNotWoken(t *testing.T) {
	e := newTestEnv(t, Options{}, "d")
	e.cluster("d", v1alpha1.PhaseSleeping, map[string]string{v1alpha1.AnnotationSleepRequested: time.Now().UTC().Format(time.RFC3339)})
	vc := e.get("d")
	vc.Finalizers = []string{"kplex.dev/host-objects"}
	if err := e.c.Update(context.Background(), vc); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Delete(context.Background(), vc); err != nil {
		t.Fatal(err)
	}
	e.wakes.Store(0)
	if got, err := e.httpsGet("d.kplex.gateway"); err == nil {
		t.Fatalf("got %q, want the connection closed", got)
	}
	if n := e.wakes.Load(); n != 0 {
		t.Fatalf("%d patches of a cluster being deleted, want none", n)
	}
}

func TestConnectionCaps(t *testing.T) {
	e := newTestEnv(t, Options{MaxConnectionsPerTenant: 2, MaxConnections: 3}, "s")
	e.cluster("s", v1alpha1.PhaseSleeping, map[string]string{v1alpha1.AnnotationSleepRequested: time.Now().UTC().Format(time.RFC3339)})
	hello := clientHello(t, "s.kplex.gateway")
	for range 2 {
		if _, err := e.rawConn().Write(hello); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "two held connections", func() bool {
		e.gw.mu.Lock()
		defer e.gw.mu.Unlock()
		return e.gw.tenants["s"] != nil && e.gw.tenants["s"].conns == 2
	})
	// A third connection to the same tenant is closed; so is one over the overall cap.
	c := e.rawConn()
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	closedWithin(t, c, time.Second)
	e.rawConn() // takes the third overall slot, handshaking
	waitFor(t, "three open connections", func() bool { return len(e.gw.conns) == 3 })
	closedWithin(t, e.rawConn(), time.Second)
}

func TestNeedsWake(t *testing.T) {
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	for _, tc := range []struct {
		name        string
		phase       v1alpha1.Phase
		sleep, wake string
		deleting    bool
		want        bool
	}{
		{name: "ready, never slept", phase: v1alpha1.PhaseReady},
		{name: "asleep", phase: v1alpha1.PhaseSleeping, sleep: at(-time.Hour), want: true},
		{name: "going to sleep", phase: v1alpha1.PhaseReady, sleep: at(-time.Second), want: true},
		{name: "sleep after an older wake", phase: v1alpha1.PhaseSleeping, sleep: at(0), wake: at(-time.Hour), want: true},
		{name: "same instant: the wake stands", phase: v1alpha1.PhaseSleeping, sleep: at(0), wake: at(0)},
		{name: "already asked to wake", phase: v1alpha1.PhaseSleeping, sleep: at(-time.Hour), wake: at(0)},
		{name: "waking", phase: v1alpha1.PhaseWaking, sleep: at(-time.Hour), wake: at(0)},
		{name: "sleeping without a request: the operator is waking it", phase: v1alpha1.PhaseSleeping},
		{name: "unreadable sleep time: the operator ignores it", phase: v1alpha1.PhaseSleeping, sleep: "yesterday"},
		{name: "unreadable wake time", phase: v1alpha1.PhaseSleeping, sleep: at(0), wake: "now", want: true},
		{name: "fractional seconds", phase: v1alpha1.PhaseSleeping, sleep: now.Format(time.RFC3339Nano), wake: now.Add(-time.Millisecond).Format(time.RFC3339Nano), want: true},
		{name: "provisioning", phase: v1alpha1.PhaseProvisioning},
		{name: "deleting", phase: v1alpha1.PhaseSleeping, sleep: at(0), deleting: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vc := &v1alpha1.VirtualCluster{Status: v1alpha1.VirtualClusterStatus{Phase: tc.phase}}
			vc.Annotations = map[string]string{}
			if tc.sleep != "" {
				vc.Annotations[v1alpha1.AnnotationSleepRequested] = tc.sleep
			}
			if tc.wake != "" {
				vc.Annotations[v1alpha1.AnnotationWakeRequested] = tc.wake
			}
			if tc.deleting {
				vc.DeletionTimestamp = ptr.To(metav1.Now())
			}
			if got := needsWake(vc); got != tc.want {
				t.Fatalf("needsWake = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTenantOf(t *testing.T) {
	for _, tc := range []struct{ serverName, want string }{
		{"a.kplex.gateway", "a"},
		{"A.KPLEX.GATEWAY", "a"},
		{"a.kplex.gateway.", "a"},
		{"team-1.kplex.gateway", "team-1"},
		{"a.kplex.gateway..", ""},
		{".kplex.gateway", ""},
		{"kplex.gateway", ""},
		{"a.b.kplex.gateway", ""},
		{"-a.kplex.gateway", ""},
		{"a/../b.kplex.gateway", ""},
		{"a%2e.kplex.gateway", ""},
		{"a\x00.kplex.gateway", ""},
		{"a_b.kplex.gateway", ""},
		{"akplex.gateway", ""},
		{"a.kplex.gateway.evil", ""},
		{"\u0430.kplex.gateway", ""}, // Cyrillic a
		{strings.Repeat("a", 58) + ".kplex.gateway", ""},
		{strings.Repeat("a", 57) + ".kplex.gateway", strings.Repeat("a", 57)},
	} {
		got, err := tenantOf(tc.serverName, testDomain)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("tenantOf(%q) = %q, %v; want %q", tc.serverName, got, err, tc.want)
		}
	}
}

func TestValidateDomain(t *testing.T) {
	for domain, ok := range map[string]bool{
		"kplex.gateway": true, "gw.example.com": true, "": false, "Kplex.Gateway": false,
		"kplex.gateway.": false, "*.kplex": false, strings.Repeat("a", 200): false,
	} {
		if err := ValidateDomain(domain); (err == nil) != ok {
			t.Errorf("ValidateDomain(%q) = %v, want ok=%v", domain, err, ok)
		}
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A connection is held only up to the hold timeout (a client's TLS handshake timeout is
// shorter than a wake); the client's retries join the wake under way, which asks once.
func TestHoldTimeoutRetriesJoinTheWake(t *testing.T) {
	e := newTestEnv(t, Options{HoldTimeout: 300 * time.Millisecond}, "s")
	e.cluster("s", v1alpha1.PhaseSleeping, map[string]string{v1alpha1.AnnotationSleepRequested: time.Now().UTC().Format(time.RFC3339)})
	go func() {
		time.Sleep(1200 * time.Millisecond)
		e.setPhase("s", v1alpha1.PhaseReady)
	}()
	attempts := 0
	for {
		attempts++
		start := time.Now()
		got, err := e.httpsGet("s.kplex.gateway")
		if err == nil {
			if got != "s" {
				t.Fatalf("got %q", got)
			}
			break
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("attempt %d held %s, want the hold timeout", attempts, took)
		}
		if attempts > 20 {
			t.Fatalf("no answer after %d attempts: %v", attempts, err)
		}
	}
	if attempts < 3 {
		t.Fatalf("answered at attempt %d: want the first ones closed at the hold timeout", attempts)
	}
	if n := e.wakes.Load(); n != 1 {
		t.Fatalf("%d wake patches over %d connections, want 1", n, attempts)
	}
}

// flakyListener fails its first Accepts as a process out of file descriptors does.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestAcceptErrorsDoNotStopTheGateway(t *testing.T) {
	e := newTestEnv(t, Options{}, "a")
	e.cluster("a", v1alpha1.PhaseReady, nil)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &flakyListener{Listener: inner}
	l.fails.Store(5)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.gw.Serve(ctx, l) }()
	e.addr = inner.Addr().String()
	if got, err := e.httpsGet("a.kplex.gateway"); err != nil || got != "a" {
		t.Fatalf("after accept errors: %q, %v", got, err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// A Ready cluster asked to sleep is going to sleep: a connection asks for a wake first, so
// that it is not passed to a control plane about to stop.
func TestGoingToSleepIsWoken(t *testing.T) {
	e := newTestEnv(t, Options{}, "g")
	e.cluster("g", v1alpha1.PhaseReady, map[string]string{v1alpha1.AnnotationSleepRequested: time.Now().UTC().Format(time.RFC3339Nano)})
	if got, err := e.httpsGet("g.kplex.gateway"); err != nil || got != "g" {
		t.Fatalf("got %q, %v", got, err)
	}
	if needsWake(e.get("g")) || e.wakes.Load() != 1 {
		t.Fatalf("%d wake patches, annotations %v: want one wake request later than the sleep request", e.wakes.Load(), e.get("g").Annotations)
	}
}

// A sleep request later than the gateway's wake wins: the held connections are closed at
// once, not at the hold timeout, and the gateway does not ask again.
func TestLaterSleepRequestWins(t *testing.T) {
	e := newTestEnv(t, Options{HoldTimeout: time.Minute}, "s")
	e.cluster("s", v1alpha1.PhaseSleeping, map[string]string{v1alpha1.AnnotationSleepRequested: time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})
	done := make(chan error, 1)
	go func() {
		_, err := e.httpsGet("s.kplex.gateway")
		done <- err
	}()
	waitFor(t, "the wake request", func() bool { return e.get("s").Annotations[v1alpha1.AnnotationWakeRequested] != "" })
	vc := e.get("s")
	vc.Annotations[v1alpha1.AnnotationSleepRequested] = time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)
	if err := e.c.Update(context.Background(), vc); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the held connection went through")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held connection was not closed after the later sleep request")
	}
	if n := e.wakes.Load(); n != 1 {
		t.Fatalf("%d wake patches, want 1 (the update is not a patch)", n)
	}
}

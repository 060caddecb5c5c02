package integration

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/gateway"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/kplexd/controlplanecmd"
	"github.com/kplex-dev/kplex/internal/operator"
	"github.com/kplex-dev/kplex/internal/testenv"
)

// TestGatewayWakesSleepingCluster: a host API server holding the CRD, the gateway with the
// operator's identity, and a tenant API server (kplexd controlplane) started with the
// gateway flags the operator gives it. A client using the gateway kubeconfig the control
// plane published connects while the VirtualCluster sleeps: the gateway writes the wake
// request and holds the connection; once the status turns Ready, the tenant's API server
// answers, after the client verified its certificate for s.kplex.gateway and the API
// server authenticated the client's certificate, through a gateway that holds neither.
func TestGatewayWakesSleepingCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	host, admin := installedHost(ctx, t)

	const name = "s"
	ns := v1alpha1.HostNamespace(name)
	serverName := gateway.ServerName(name, gateway.DefaultDomain)
	vc := &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: name,
		Annotations: map[string]string{v1alpha1.AnnotationSleepRequested: time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}},
		Spec: v1alpha1.VirtualClusterSpec{Datastore: v1alpha1.Datastore{Type: v1alpha1.DatastoreEmbedded}}}
	if err := admin.Create(ctx, vc); err != nil {
		t.Fatal(err)
	}
	setPhase(ctx, t, admin, name, v1alpha1.PhaseSleeping)

	// The tenant's control plane, with the operator's flags for the gateway and the
	// published kubeconfigs.
	var args []string
	for _, a := range operator.StatefulSet(vc, "10.0.0.10", "10.0.0.53", operator.ControlPlaneDefaults{Image: "unused", GatewayDomain: gateway.DefaultDomain}).Spec.Template.Spec.Containers[0].Args {
		if strings.Contains(a, "gateway") || strings.HasPrefix(a, "--publish-kubeconfig-") {
			args = append(args, a)
		}
	}
	if !slices.Contains(args, "--tls-san="+serverName) {
		t.Fatalf("the operator does not put %s on the certificate: %v", serverName, args)
	}
	hostKubeconfig := kubeconfigFile(t, grantSyncer(ctx, t, host, ns, name))
	virtual := testenv.NewControlPlane(t, append([]string{"--name", name, "--service-cidr", virtualServiceCIDR,
		"--host-kubeconfig", hostKubeconfig, "--host-namespace", ns, "--tenant-api-host", "10.0.0.10:443"}, args...)...)
	virtual.Start(ctx)
	var published map[string][]byte
	eventually(ctx, t, "the published kubeconfigs", func(ctx context.Context) (bool, error) {
		s, err := host.Client().CoreV1().Secrets(ns).Get(ctx, install.KubeconfigSecret, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		published = s.Data
		return len(s.Data[controlplanecmd.GatewayKubeconfigKey]) > 0, nil
	})
	cfg, err := clientcmd.RESTConfigFromKubeConfig(published[controlplanecmd.GatewayKubeconfigKey])
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != install.GatewayURL() || cfg.TLSClientConfig.ServerName != serverName {
		t.Fatalf("gateway kubeconfig: server %s, TLS server name %q; want %s and %s", cfg.Host, cfg.TLSClientConfig.ServerName, install.GatewayURL(), serverName)
	}
	if adminCfg, err := clientcmd.RESTConfigFromKubeConfig(published[controlplanecmd.KubeconfigKey]); err != nil || adminCfg.Host != operator.Endpoint(name) || adminCfg.TLSClientConfig.ServerName != "" {
		t.Fatalf("admin kubeconfig changed: %v %v", adminCfg, err)
	}

	// The gateway, as the operator runs it, but with the tenant's Service on loopback.
	gctx, stopGateway := context.WithCancel(ctx)
	defer stopGateway()
	log := testr.NewWithOptions(t, testr.Options{Verbosity: 1})
	gc, err := gateway.NewClient(gctx, operatorConfig(ctx, t, host), operator.ManagedSelector(), log)
	if err != nil {
		t.Fatal(err)
	}
	// A short hold: the wake below outlasts it, and client-go's retries must carry the
	// request over to the wake's end, as with a real control plane's start.
	gw, err := gateway.New(gc, gateway.Options{Domain: gateway.DefaultDomain, Log: log, HoldTimeout: 2 * time.Second,
		Dial: gateway.DialAddress(func(string) string { return "127.0.0.1:" + strconv.Itoa(virtual.Port) })})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gw.Serve(gctx, l) }()
	defer func() {
		stopGateway()
		if err := <-served; err != nil {
			t.Errorf("gateway: %v", err)
		}
	}()
	cfg.Host = "https://" + l.Addr().String()

	// A name the gateway has no cluster for is closed at once.
	other := *cfg
	other.TLSClientConfig.ServerName = gateway.ServerName("nope", gateway.DefaultDomain)
	other.Timeout = 10 * time.Second
	if _, err := kubernetes.NewForConfigOrDie(&other).CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("a connection for an unknown virtual cluster went through")
	}

	start := time.Now()
	answered := make(chan error, 1)
	go func() {
		list, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err == nil && !slices.ContainsFunc(list.Items, func(n corev1.Namespace) bool { return n.Name == "default" }) {
			err = fmt.Errorf("namespaces %v lack default", list.Items)
		}
		answered <- err
	}()
	var woke string
	eventually(ctx, t, "the gateway's wake request", func(ctx context.Context) (bool, error) {
		cur := &v1alpha1.VirtualCluster{}
		if err := admin.Get(ctx, client.ObjectKey{Name: name}, cur); err != nil {
			return false, err
		}
		woke = cur.Annotations[v1alpha1.AnnotationWakeRequested]
		return woke != "", nil
	})
	if at, err := time.Parse(time.RFC3339, woke); err != nil || at.Before(start.Add(-time.Second)) {
		t.Fatalf("wake request %q (%v): want the time of the connection", woke, err)
	}
	select {
	case err := <-answered:
		t.Fatalf("answered (%v) while the virtual cluster sleeps: want the request held", err)
	case <-time.After(5 * time.Second): // over two hold timeouts
	}
	// The operator's part: the control plane is back.
	setPhase(ctx, t, admin, name, v1alpha1.PhaseReady)
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("held request: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the held request was not answered after the virtual cluster turned Ready")
	}
	t.Logf("request to a sleeping virtual cluster answered %s after it started", time.Since(start).Round(time.Millisecond))
	cur := &v1alpha1.VirtualCluster{}
	if err := admin.Get(ctx, client.ObjectKey{Name: name}, cur); err != nil || cur.Annotations[v1alpha1.AnnotationWakeRequested] != woke {
		t.Fatalf("wake request %q then %q (%v): want one request for the retries of one request", woke, cur.Annotations[v1alpha1.AnnotationWakeRequested], err)
	}
}

func setPhase(ctx context.Context, t *testing.T, c client.Client, name string, phase v1alpha1.Phase) {
	t.Helper()
	vc := &v1alpha1.VirtualCluster{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, vc); err != nil {
		t.Fatal(err)
	}
	vc.Status.Phase = phase
	if err := c.Status().Update(ctx, vc); err != nil {
		t.Fatalf("set phase of %s to %s: %v", name, phase, err)
	}
}

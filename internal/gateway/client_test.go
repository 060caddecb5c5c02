package gateway

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestDialService: the gateway reaches a tenant by its Service's cluster IP and port, read
// from the host, never by a DNS name; a missing or addressless Service is a clear error.
func TestDialService(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	port, _ := strconv.Atoi(strings.TrimPrefix(l.Addr().String(), "127.0.0.1:"))
	svc := func(ns, ip string, port int32) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"}, Spec: corev1.ServiceSpec{ClusterIP: ip}}
		if port != 0 {
			s.Spec.Ports = []corev1.ServicePort{{Port: port}}
		}
		return s
	}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		svc("kplex-a", "127.0.0.1", int32(port)),
		svc("kplex-headless", corev1.ClusterIPNone, 443),
		svc("kplex-noports", "127.0.0.2", 0),
	).Build()
	dial := DialService(c, func(vc string) types.NamespacedName {
		return types.NamespacedName{Namespace: "kplex-" + vc, Name: "api"}
	})

	conn, err := dial(context.Background(), "a")
	if err != nil {
		t.Fatalf("dial a: %v", err)
	}
	conn.Close()
	<-accepted

	for vc, want := range map[string]string{
		"missing":  "service kplex-missing/api of virtual cluster missing not found",
		"headless": "no cluster IP",
		"noports":  "no cluster IP",
	} {
		_, err := dial(context.Background(), vc)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("dial %s: %v, want an error saying %q", vc, err, want)
		}
		if want == "no cluster IP" && !errors.Is(err, errNoClusterIP) {
			t.Errorf("dial %s: %v is not errNoClusterIP", vc, err)
		}
	}
}

package integration

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/syncer/ingresses"
)

func TestSyncerIngresses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := newSyncEnv(ctx, t)
	mustNamespace(ctx, t, e.vAdmin, "shop")
	if _, err := e.vAdmin.CoreV1().Secrets("shop").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "shop-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	_, err := e.vAdmin.NetworkingV1().Ingresses("shop").Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "front",
		Annotations: map[string]string{"nginx.ingress.kubernetes.io/server-snippet": "return 200;"}},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("nginx"), DefaultBackend: &backend,
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: "shop-tls"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hostName := e.tr.HostName("shop", "front")
	hosts := e.hostAdmin.NetworkingV1().Ingresses(hostNS)
	var h *networkingv1.Ingress
	eventually(ctx, t, "host ingress", func(ctx context.Context) (bool, error) {
		h, err = hosts.Get(ctx, hostName, metav1.GetOptions{})
		return err == nil, err
	})
	if *h.Spec.IngressClassName != "nginx" || h.Spec.DefaultBackend.Service.Name != e.tr.HostName("shop", "web") ||
		h.Spec.TLS[0].SecretName != e.tr.HostName("shop", "shop-tls") || h.Annotations["nginx.ingress.kubernetes.io/server-snippet"] != "" {
		t.Errorf("host ingress = %+v", h)
	}
	eventually(ctx, t, "TLS secret copied", func(ctx context.Context) (bool, error) {
		s, err := e.hostAdmin.CoreV1().Secrets(hostNS).Get(ctx, e.tr.HostName("shop", "shop-tls"), metav1.GetOptions{})
		return err == nil && string(s.Data["tls.key"]) == "key", err
	})

	// The host's controller reports an address: the tenant sees it.
	h.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.7"}}
	if _, err := hosts.UpdateStatus(ctx, h, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "virtual ingress status", func(ctx context.Context) (bool, error) {
		v, err := e.vAdmin.NetworkingV1().Ingresses("shop").Get(ctx, "front", metav1.GetOptions{})
		return err == nil && len(v.Status.LoadBalancer.Ingress) == 1 && v.Status.LoadBalancer.Ingress[0].IP == "203.0.113.7", err
	})

	// A deleted host copy comes back; deleting the virtual ingress removes it and the TLS copy.
	if err := hosts.Delete(ctx, hostName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "host ingress recreated", func(ctx context.Context) (bool, error) {
		n, err := hosts.Get(ctx, hostName, metav1.GetOptions{})
		return err == nil && n.UID != h.UID, err
	})
	if err := e.vAdmin.NetworkingV1().Ingresses("shop").Delete(ctx, "front", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, "host ingress and TLS secret gone", func(ctx context.Context) (bool, error) {
		_, err1 := hosts.Get(ctx, hostName, metav1.GetOptions{})
		_, err2 := e.hostAdmin.CoreV1().Secrets(hostNS).Get(ctx, e.tr.HostName("shop", "shop-tls"), metav1.GetOptions{})
		return apierrors.IsNotFound(err1) && apierrors.IsNotFound(err2), nil
	})

	// allowIngresses withdrawn: the control plane restarts with a syncer that may not copy
	// Ingresses. What it copied before goes, and the tenant is told why.
	if _, err := e.vAdmin.NetworkingV1().Ingresses("shop").Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "back"},
		Spec: networkingv1.IngressSpec{DefaultBackend: &backend, TLS: []networkingv1.IngressTLS{{SecretName: "shop-tls"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	backName, tlsName := e.tr.HostName("shop", "back"), e.tr.HostName("shop", "shop-tls")
	eventually(ctx, t, "host ingress back and its TLS secret", func(ctx context.Context) (bool, error) {
		_, err1 := hosts.Get(ctx, backName, metav1.GetOptions{})
		_, err2 := e.hostAdmin.CoreV1().Secrets(hostNS).Get(ctx, tlsName, metav1.GetOptions{})
		return err1 == nil && err2 == nil, errors.Join(err1, err2)
	})
	e.shutdown(t)
	e.noIngresses = true
	e.start()
	eventually(ctx, t, "host ingress back and its TLS secret removed", func(ctx context.Context) (bool, error) {
		_, err1 := hosts.Get(ctx, backName, metav1.GetOptions{})
		_, err2 := e.hostAdmin.CoreV1().Secrets(hostNS).Get(ctx, tlsName, metav1.GetOptions{})
		return apierrors.IsNotFound(err1) && apierrors.IsNotFound(err2), nil
	})
	eventually(ctx, t, "warning "+ingresses.ReasonNotAllowed+" on the virtual ingress", func(ctx context.Context) (bool, error) {
		evs, err := e.vAdmin.EventsV1().Events("shop").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(evs.Items, func(ev eventsv1.Event) bool {
			return ev.Reason == ingresses.ReasonNotAllowed && ev.Type == corev1.EventTypeWarning && ev.Regarding.Name == "back"
		}), nil
	})
	if _, err := e.vAdmin.NetworkingV1().Ingresses("shop").Get(ctx, "back", metav1.GetOptions{}); err != nil {
		t.Errorf("the tenant's own Ingress must stay: %v", err)
	}
}

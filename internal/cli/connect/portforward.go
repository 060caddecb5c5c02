package connect

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/internal/cli/host"
)

// forwarding is a running port-forward from 127.0.0.1 to a control-plane pod.
type forwarding struct {
	LocalPort uint16
	Pod       string
	Done      <-chan error // receives the forwarder's end
}

// forward starts a port-forward from a free port of 127.0.0.1 to the pod
// behind port `port` of Service namespace/service, as kubectl port-forward
// svc/... does; it returns once the local port listens. It stops with ctx.
func forward(ctx context.Context, h *host.Host, namespace, service string, port int32, errOut io.Writer) (*forwarding, error) {
	svc := &corev1.Service{}
	if err := h.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: service}, svc); err != nil {
		return nil, fmt.Errorf("read Service %s/%s of the endpoint: %w", namespace, service, h.Explain(err))
	}
	pod, err := readyPod(ctx, h, svc)
	if err != nil {
		return nil, err
	}
	target, err := targetPort(svc, port, pod)
	if err != nil {
		return nil, err
	}
	dialer, err := podDialer(h.Config, namespace, pod.Name)
	if err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesWithContext(ctx, dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", target)}, ready, io.Discard, errOut)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", namespace, pod.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-done:
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", namespace, pod.Name, h.Explain(err))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		return nil, fmt.Errorf("port-forward to pod %s/%s: no local port: %v", namespace, pod.Name, err)
	}
	return &forwarding{LocalPort: ports[0].Local, Pod: pod.Name, Done: done}, nil
}

// readyPod picks a ready pod selected by the Service.
func readyPod(ctx context.Context, h *host.Host, svc *corev1.Service) (*corev1.Pod, error) {
	if len(svc.Spec.Selector) == 0 {
		return nil, fmt.Errorf("Service %s/%s selects no pods: kplex connect cannot forward to it", svc.Namespace, svc.Name)
	}
	pods := &corev1.PodList{}
	if err := h.Client.List(ctx, pods, client.InNamespace(svc.Namespace), client.MatchingLabels(svc.Spec.Selector)); err != nil {
		return nil, fmt.Errorf("list the control-plane pods: %w", h.Explain(err))
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
				return p, nil
			}
		}
	}
	return nil, fmt.Errorf("no ready control-plane pod behind Service %s/%s (%d pods): kplex status shows why", svc.Namespace, svc.Name, len(pods.Items))
}

// targetPort is the container port that Service port `port` leads to.
func targetPort(svc *corev1.Service, port int32, pod *corev1.Pod) (int32, error) {
	for _, sp := range svc.Spec.Ports {
		if sp.Port != port && len(svc.Spec.Ports) > 1 {
			continue
		}
		switch {
		case sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0:
			return sp.TargetPort.IntVal, nil
		case sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "":
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal {
						return cp.ContainerPort, nil
					}
				}
			}
			return 0, fmt.Errorf("pod %s has no port named %q (Service %s/%s)", pod.Name, sp.TargetPort.StrVal, svc.Namespace, svc.Name)
		}
		return sp.Port, nil
	}
	return 0, fmt.Errorf("Service %s/%s has no port %d", svc.Namespace, svc.Name, port)
}

// podDialer opens the pod's portforward subresource as kubectl does:
// WebSockets first, SPDY for API servers that lack them.
func podDialer(cfg *rest.Config, namespace, pod string) (httpstream.Dialer, error) {
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("host URL: %w", err)
	}
	u := *base
	u.Path = path.Join(u.Path, "api", "v1", "namespaces", namespace, "pods", pod, "portforward")
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("port-forward transport: %w", err)
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, &u)
	ws, err := portforward.NewSPDYOverWebsocketDialer(&u, cfg)
	if err != nil {
		return nil, fmt.Errorf("port-forward dialer: %w", err)
	}
	return portforward.NewFallbackDialer(ws, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}

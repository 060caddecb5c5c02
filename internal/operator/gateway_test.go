package operator

import (
	"slices"
	"strings"
	"testing"
)

// TestStatefulSetGateway: with a gateway domain, the control plane's certificate carries
// <vc>.<domain> and it publishes the gateway kubeconfig; without, neither.
func TestStatefulSetGateway(t *testing.T) {
	args := StatefulSet(vc("a", nil), "10.96.0.42", "10.96.0.53", ControlPlaneDefaults{Image: "kplexd:default", GatewayDomain: "kplex.gateway"}).Spec.Template.Spec.Containers[0].Args
	for _, want := range []string{"--tls-san=a.kplex.gateway", "--publish-gateway-server=https://kplex-gateway.kplex-system.svc:443",
		"--publish-gateway-server-name=a.kplex.gateway", "--tls-san=kplex-apiserver.kplex-a.svc"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v lack %s", args, want)
		}
	}
	for _, a := range StatefulSet(vc("a", nil), "10.96.0.42", "10.96.0.53", ControlPlaneDefaults{Image: "kplexd:default"}).Spec.Template.Spec.Containers[0].Args {
		if strings.Contains(a, "gateway") {
			t.Errorf("no gateway domain, yet %s", a)
		}
	}
}

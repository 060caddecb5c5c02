package controlplanecmd

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

func TestNetworkGateFlags(t *testing.T) {
	for _, tc := range []struct {
		name, image, probe, host string
		wantProbe, want          string // want: error substring; "" = valid
	}{
		{name: "off", host: "https://10.96.0.1:443"},
		{name: "in-cluster default", image: "kplexd:1", host: "https://10.96.0.1:443", wantProbe: "10.96.0.1:443"},
		{name: "IPv6 default", image: "kplexd:1", host: "https://[fd00::1]:443", wantProbe: "[fd00::1]:443"},
		{name: "explicit", image: "kplexd:1", probe: "10.96.0.1:443", host: "https://api.example.com:6443", wantProbe: "10.96.0.1:443"},
		{name: "host name", image: "kplexd:1", host: "https://api.example.com:6443", want: "is not an IP:PORT"},
		{name: "probe without image", probe: "10.96.0.1:443", host: "https://10.96.0.1:443", want: "needs --network-gate-image"},
		{name: "probe without port", image: "kplexd:1", probe: "10.96.0.1", host: "https://10.96.0.1:443", want: "want IP:PORT"},
		{name: "probe by name", image: "kplexd:1", probe: "kubernetes:443", host: "https://10.96.0.1:443", want: "want IP:PORT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := syncFlags{gateImage: tc.image, gateProbe: tc.probe}
			g, err := f.networkGate(&rest.Config{Host: tc.host})
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Image != tc.image || g.Probe != tc.wantProbe {
				t.Errorf("gate %+v, want image %q probe %q", g, tc.image, tc.wantProbe)
			}
		})
	}
}

package operatorcmd

import (
	"strings"
	"testing"
	"time"
)

func TestGatewayFlags(t *testing.T) {
	for _, tc := range []struct {
		name, address, domain string
		wakeTimeout           time.Duration
		holdTimeout           time.Duration
		want                  string // error substring; "" = valid
		wantDomain            string
	}{
		{name: "defaults", address: ":8443", domain: "kplex.gateway", wakeTimeout: 5 * time.Minute, holdTimeout: 8 * time.Second, wantDomain: "kplex.gateway"},
		{name: "hold longer than the wake", address: ":8443", domain: "kplex.gateway", wakeTimeout: 5 * time.Second, holdTimeout: 8 * time.Second, want: "--gateway-hold-timeout"},
		{name: "no hold", address: ":8443", domain: "kplex.gateway", wakeTimeout: time.Minute, want: "--gateway-hold-timeout"},
		{name: "off", address: "", domain: "Bad Domain", wakeTimeout: 0},
		{name: "no port", address: "0.0.0.0", domain: "kplex.gateway", wakeTimeout: time.Minute, want: "--gateway-address"},
		{name: "port out of range", address: ":70000", domain: "kplex.gateway", wakeTimeout: time.Minute, want: "--gateway-address"},
		{name: "upper-case domain", address: ":8443", domain: "Kplex.Gateway", wakeTimeout: time.Minute, want: "--gateway-domain"},
		{name: "domain with a trailing dot", address: ":8443", domain: "kplex.gateway.", wakeTimeout: time.Minute, want: "--gateway-domain"},
		{name: "no wait", address: ":8443", domain: "kplex.gateway", wakeTimeout: 0, want: "--gateway-wake-timeout"},
		{name: "a day", address: ":8443", domain: "kplex.gateway", wakeTimeout: 24 * time.Hour, want: "--gateway-wake-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := gatewayFlags{address: tc.address, domain: tc.domain, wakeTimeout: tc.wakeTimeout, holdTimeout: tc.holdTimeout}
			domain, err := f.validate()
			if tc.want == "" {
				if err != nil || domain != tc.wantDomain {
					t.Fatalf("got %q, %v; want %q", domain, err, tc.wantDomain)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

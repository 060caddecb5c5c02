package controlplanecmd

import (
	"strings"
	"testing"
)

func TestValidatePublish(t *testing.T) {
	for _, tc := range []struct {
		name, secret, server, ns string
		want                     string // error substring; "" = valid
	}{
		{name: "off"},
		{name: "valid", secret: "kc", server: "https://kplex-apiserver.kplex-a.svc:443", ns: "kplex-a"},
		{name: "secret alone", secret: "kc", ns: "kplex-a", want: "go together"},
		{name: "no host namespace", secret: "kc", server: "https://x:443", want: "needs --host-namespace"},
		{name: "plain http", secret: "kc", server: "http://x:443", ns: "kplex-a", want: "want an https:// URL"},
		{name: "no host", secret: "kc", server: "https://", ns: "kplex-a", want: "want an https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := validatePublish(tc.secret, tc.server, tc.ns)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if (tc.secret != "") != (p != nil) {
					t.Fatalf("config %+v for secret %q", p, tc.secret)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

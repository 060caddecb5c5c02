package controlplane

import (
	"strings"
	"testing"
)

func validConfig() Config {
	return Config{Name: "t", DataDir: "/tmp/x", BindAddress: "127.0.0.1", SecurePort: 6443, ServiceCIDR: "10.96.0.0/16", Profile: ProfileVirtual}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // empty: valid
	}{
		{"valid", func(*Config) {}, ""},
		{"host", func(c *Config) { c.Profile = ProfileHost; c.ClusterCIDR = "10.244.0.0/16" }, ""},
		{"no name", func(c *Config) { c.Name = "" }, "invalid --name"},
		{"slash in name", func(c *Config) { c.Name = "a/b" }, "invalid --name"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "--data-dir is required"},
		{"hostname bind", func(c *Config) { c.BindAddress = "localhost" }, "invalid --bind-address"},
		{"port 0", func(c *Config) { c.SecurePort = 0 }, "invalid --secure-port"},
		{"cidr", func(c *Config) { c.ServiceCIDR = "10.96.0.0" }, "invalid --service-cidr"},
		{"tiny cidr", func(c *Config) { c.ServiceCIDR = "10.96.0.0/32" }, "too small"},
		{"profile", func(c *Config) { c.Profile = "x" }, "invalid --profile"},
		{"san with comma", func(c *Config) { c.TLSSANs = []string{"a,b"} }, "invalid --tls-san"},
		{"cluster cidr", func(c *Config) { c.ClusterCIDR = "x" }, "invalid --cluster-cidr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want error containing %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestFirstServiceIP(t *testing.T) {
	c := validConfig()
	for cidr, want := range map[string]string{"10.96.0.0/16": "10.96.0.1", "10.0.0.0/24": "10.0.0.1", "fd00::/108": "fd00::1"} {
		c.ServiceCIDR = cidr
		ip, err := c.FirstServiceIP()
		if err != nil || ip.String() != want {
			t.Errorf("%s: got %v %v, want %s", cidr, ip, err, want)
		}
	}
}

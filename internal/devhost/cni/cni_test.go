package cni

import (
	"encoding/json"
	"testing"
)

func TestRender(t *testing.T) {
	b, err := Config{PodCIDR: "10.244.0.0/24", IPAMDir: "/d/ipam"}.Render()
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type string `json:"type"`
			IPAM struct {
				DataDir string                `json:"dataDir"`
				Ranges  [][]map[string]string `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	if conf.Plugins[0].Type != "bridge" || conf.Plugins[1].Type != "portmap" {
		t.Errorf("plugins = %+v", conf.Plugins)
	}
	if got := conf.Plugins[0].IPAM.Ranges[0][0]["subnet"]; got != "10.244.0.0/24" {
		t.Errorf("subnet = %q", got)
	}
	if _, err := (Config{PodCIDR: "nope", IPAMDir: "/x"}).Render(); err == nil {
		t.Error("Render accepted a bad CIDR")
	}
}

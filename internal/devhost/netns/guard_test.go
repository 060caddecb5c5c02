package netns

import (
	"strings"
	"testing"
)

func TestGuardDropsBothDirections(t *testing.T) {
	r := guardRuleset()
	for _, want := range []string{`iifname "kplexdh0" drop`, `oifname "kplexdh0" drop`, "hook forward", "table inet kplex_devhost_guard"} {
		if !strings.Contains(r, want) {
			t.Errorf("guard ruleset lacks %q:\n%s", want, r)
		}
	}
}

// Package args merges kplex's default flags for an upstream component with the user's
// --*-arg overrides, the way k3s does: one flag per key, the user's value wins.
package args

import (
	"fmt"
	"strings"
)

// Arg is one --key=value flag; Key has no leading dashes.
type Arg struct{ Key, Value string }

// Parse reads KEY=VALUE as given to --apiserver-arg and friends.
func Parse(s string) (Arg, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimLeft(k, "-")
	if !ok || k == "" {
		return Arg{}, fmt.Errorf("invalid argument %q: use KEY=VALUE, e.g. --apiserver-arg=audit-log-maxage=7", s)
	}
	return Arg{Key: k, Value: v}, nil
}

// Merge returns defaults with every key the overrides name replaced in place (keeping
// the order stable for logs), and new keys appended in the overrides' order.
// A later override of the same key wins.
func Merge(defaults, overrides []Arg) []Arg {
	out := make([]Arg, 0, len(defaults)+len(overrides))
	index := map[string]int{}
	for _, a := range append(append([]Arg{}, defaults...), overrides...) {
		if i, ok := index[a.Key]; ok {
			out[i].Value = a.Value
			continue
		}
		index[a.Key] = len(out)
		out = append(out, a)
	}
	return out
}

// Render turns args into --key=value strings.
func Render(args []Arg) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "--" + a.Key + "=" + a.Value
	}
	return out
}

package translate

import (
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/validate/content"
)

// Two tenants sharing one host namespace: the hardest case for collisions.
var (
	tenantA = Tenant{Name: "tenant-a", HostNamespace: "kplex-shared"}
	tenantB = Tenant{Name: "tenant-b", HostNamespace: "kplex-shared"}
)

func mustNew(tb testing.TB, tenant Tenant) *Translator {
	tb.Helper()
	tr, err := New(tenant)
	if err != nil {
		tb.Fatalf("New(%+v): %v", tenant, err)
	}
	return tr
}

// decodeReadable inverts the readable form of HostName for tr, proving that
// form injective: a function that recovers the input exists.
func decodeReadable(tr *Translator, host string) (ns, name string, ok bool) {
	suffix := len(tr.tag) + 2
	if len(host) < suffix+4 || host[len(host)-suffix-1] != '-' || host[len(host)-suffix:len(host)-2] != tr.tag {
		return "", "", false
	}
	n, err := strconv.Atoi(host[len(host)-2:])
	if err != nil {
		return "", "", false
	}
	rest := host[:len(host)-suffix-1] // name-ns
	if n < 1 || len(rest) < n+2 || rest[len(rest)-n-1] != '-' {
		return "", "", false
	}
	return rest[len(rest)-n:], rest[:len(rest)-n-1], true
}

// lastSegment is what tells the two forms of HostName apart.
func lastSegment(host string) string {
	return host[strings.LastIndexByte(host, '-')+1:]
}

// validLabels keeps what the virtual API server would accept.
func validLabels(in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		if len(content.IsLabelKey(k)) == 0 && len(content.IsLabelValue(v)) == 0 {
			out[k] = v
		}
	}
	return out
}

// parseLabels reads "k=v" lines, the fuzzers' label sets.
func parseLabels(spec string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(spec, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

// longPrefix is a valid label key prefix too long to nest under vl.kplex.dev.
func longPrefix(c byte) string {
	labels := make([]string, 4)
	for i := range labels {
		labels[i] = strings.Repeat(string(c), 60)
	}
	return strings.Join(labels, ".") // 243 characters
}

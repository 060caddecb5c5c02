package host

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/runtime"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// markExtension is the kubeconfig context extension `kplex connect` writes
// into the contexts it creates.
const markExtension = "kplex.dev/connect"

// Mark records, in a context made by `kplex connect`, which virtual cluster
// it reaches and from which host context it was made: a later connect of the
// same cluster replaces it (and nothing else), and kplex commands run while
// it is current go to that host, not to the tenant.
type Mark struct {
	VirtualCluster string `json:"virtualCluster"`
	HostContext    string `json:"hostContext"`
}

// SetMark stores m in c.
func SetMark(c *clientcmdapi.Context, m Mark) {
	raw, _ := json.Marshal(m) // two strings: cannot fail
	if c.Extensions == nil {
		c.Extensions = map[string]runtime.Object{}
	}
	c.Extensions[markExtension] = &runtime.Unknown{Raw: raw, ContentType: runtime.ContentTypeJSON}
}

// MarkOf returns the mark of c, if kplex connect made it.
func MarkOf(c *clientcmdapi.Context) (Mark, bool) {
	if c == nil {
		return Mark{}, false
	}
	u, ok := c.Extensions[markExtension].(*runtime.Unknown)
	if !ok {
		return Mark{}, false
	}
	var m Mark
	if err := json.Unmarshal(u.Raw, &m); err != nil || m.VirtualCluster == "" {
		return Mark{}, false
	}
	return m, true
}

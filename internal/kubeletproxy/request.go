// Package kubeletproxy serves the kubelet API of a tenant's virtual nodes. The virtual API
// server calls it, with its kubelet client certificate, for pod logs, exec, attach and
// port-forward; each call is translated into the same pod subresource of the host API,
// for the host copy of one of the tenant's synced pods, made with the syncer's host
// identity. Everything else a kubelet serves (/pods, /run, /metrics, /stats, /configz,
// /checkpoint, ...) is refused: 403.
package kubeletproxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Request is an allowed kubelet request, translated for the host API.
type Request struct {
	// Subresource of the host pod: log, exec, attach or portforward.
	Subresource string
	// Namespace, Pod and Container name the virtual pod's container (Container is empty
	// for portforward).
	Namespace, Pod, Container string
	// Query is the host API's query, built only from parameters checked here.
	Query url.Values
}

// errForbidden marks a request the kubelet proxy never serves (403); other parse errors
// are malformed parameters of an allowed request (400).
var errForbidden = errors.New("forbidden")

func forbidden(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errForbidden, fmt.Sprintf(format, a...))
}

// Parse checks a kubelet request as the API server sends it (see LogLocation,
// ExecLocation, AttachLocation and PortForwardLocation in k8s.io/kubernetes
// pkg/registry/core/pod/strategy.go) and translates its parameters:
//
//	GET        /containerLogs/{ns}/{pod}/{container}  -> pods/{host}/log
//	GET, POST  /exec/{ns}/{pod}/{container}           -> pods/{host}/exec
//	GET, POST  /attach/{ns}/{pod}/{container}         -> pods/{host}/attach
//	GET, POST  /portForward/{ns}/{pod}                -> pods/{host}/portforward
//
// (upgrades: SPDY by POST, websockets by GET). The path must be in canonical form: no
// escapes, no empty, "." or ".." segments; names must be valid Kubernetes names.
func Parse(method string, u *url.URL) (Request, error) {
	if u.RawPath != "" || strings.Contains(u.Path, "%") {
		return Request{}, forbidden("escaped characters in path %q", u.EscapedPath())
	}
	if !strings.HasPrefix(u.Path, "/") {
		return Request{}, forbidden("path %q is not absolute", u.Path)
	}
	seg := strings.Split(u.Path[1:], "/")
	var r Request
	var nameSegs int
	switch seg[0] {
	case "containerLogs":
		r.Subresource, nameSegs = "log", 3
		if method != http.MethodGet {
			return Request{}, forbidden("method %s on %s", method, seg[0])
		}
	case "exec", "attach":
		r.Subresource, nameSegs = seg[0], 3
	case "portForward":
		r.Subresource, nameSegs = "portforward", 2
	default:
		return Request{}, forbidden("kubelet path %q is not served", u.Path)
	}
	if method != http.MethodGet && method != http.MethodPost {
		return Request{}, forbidden("method %s on %s", method, seg[0])
	}
	if len(seg) != 1+nameSegs {
		return Request{}, forbidden("path %q: want /%s and %d names", u.Path, seg[0], nameSegs)
	}
	r.Namespace, r.Pod = seg[1], seg[2]
	if errs := validation.IsDNS1123Label(r.Namespace); len(errs) > 0 {
		return Request{}, forbidden("namespace %q: %s", r.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(r.Pod); len(errs) > 0 {
		return Request{}, forbidden("pod name %q: %s", r.Pod, strings.Join(errs, "; "))
	}
	if nameSegs == 3 {
		r.Container = seg[3]
		if errs := validation.IsDNS1123Label(r.Container); len(errs) > 0 {
			return Request{}, forbidden("container name %q: %s", r.Container, strings.Join(errs, "; "))
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Request{}, fmt.Errorf("query: %w", err)
	}
	switch r.Subresource {
	case "log":
		r.Query, err = logQuery(q)
	case "exec", "attach":
		r.Query, err = streamQuery(q, r.Subresource == "exec")
	case "portforward":
		r.Query, err = portForwardQuery(q)
	}
	if err != nil {
		return Request{}, err
	}
	if r.Container != "" {
		r.Query.Set("container", r.Container)
	}
	return r, nil
}

// params takes the values of the allowed parameters out of q and refuses any other.
func params(q url.Values, allowed ...string) (map[string][]string, error) {
	out := map[string][]string{}
	for k, v := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return nil, fmt.Errorf("query parameter %q is not accepted", k)
		}
		out[k] = v
	}
	return out, nil
}

// single is the one value of parameter k, or "" when absent.
func single(p map[string][]string, k string) (string, error) {
	switch v := p[k]; len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	default:
		return "", fmt.Errorf("query parameter %q given %d times", k, len(v))
	}
}

// logQuery: follow, previous, timestamps, sinceSeconds, sinceTime, tailLines, limitBytes
// and stream keep their names and meaning in the host API.
func logQuery(q url.Values) (url.Values, error) {
	p, err := params(q, "follow", "previous", "timestamps", "sinceSeconds", "sinceTime", "tailLines", "limitBytes", "stream")
	if err != nil {
		return nil, err
	}
	out := url.Values{}
	for _, k := range []string{"follow", "previous", "timestamps"} {
		v, err := single(p, k)
		if err != nil {
			return nil, err
		}
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("query parameter %s=%q is not a boolean", k, v)
		}
		out.Set(k, strconv.FormatBool(b))
	}
	for _, k := range []string{"sinceSeconds", "tailLines", "limitBytes"} {
		v, err := single(p, k)
		if err != nil {
			return nil, err
		}
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("query parameter %s=%q is not a non-negative integer", k, v)
		}
		out.Set(k, strconv.FormatInt(n, 10))
	}
	if v, err := single(p, "sinceTime"); err != nil {
		return nil, err
	} else if v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("query parameter sinceTime=%q is not an RFC 3339 time", v)
		}
		out.Set("sinceTime", t.Format(time.RFC3339))
	}
	if v, err := single(p, "stream"); err != nil {
		return nil, err
	} else if v != "" {
		if v != "All" && v != "Stdout" && v != "Stderr" {
			return nil, fmt.Errorf("query parameter stream=%q: want All, Stdout or Stderr", v)
		}
		out.Set("stream", v)
	}
	return out, nil
}

// streamQuery: the kubelet's input, output, error and tty ("1" for true) become the host
// API's stdin, stdout, stderr and tty; exec's command arguments pass as they are.
func streamQuery(q url.Values, exec bool) (url.Values, error) {
	allowed := []string{"input", "output", "error", "tty"}
	if exec {
		allowed = append(allowed, "command")
	}
	p, err := params(q, allowed...)
	if err != nil {
		return nil, err
	}
	out := url.Values{}
	for _, f := range []struct{ kubelet, host string }{{"input", "stdin"}, {"output", "stdout"}, {"error", "stderr"}, {"tty", "tty"}} {
		v, err := single(p, f.kubelet)
		if err != nil {
			return nil, err
		}
		switch v {
		case "", "0":
		case "1":
			out.Set(f.host, "true")
		default:
			return nil, fmt.Errorf("query parameter %s=%q: want 1 or 0", f.kubelet, v)
		}
	}
	if exec {
		if len(p["command"]) == 0 {
			return nil, errors.New("exec without a command")
		}
		out["command"] = p["command"]
	}
	return out, nil
}

// portForwardQuery: the kubelet's comma-separated port list becomes the host API's
// repeated ports parameter.
func portForwardQuery(q url.Values) (url.Values, error) {
	p, err := params(q, "port")
	if err != nil {
		return nil, err
	}
	out := url.Values{}
	for _, list := range p["port"] {
		for _, s := range strings.Split(list, ",") {
			n, err := strconv.ParseUint(s, 10, 16)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("query parameter port=%q: want ports 1-65535", list)
			}
			out.Add("ports", strconv.FormatUint(n, 10))
		}
	}
	return out, nil
}

package audit

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// metadataAddress is the cloud metadata service every cloud serves on its nodes.
const metadataAddress = "169.254.169.254:80"

// target is one address the probe pod tries; resolve returns it ("" and why not when it
// does not apply).
type target struct {
	id      string
	name    string
	resolve func(ctx context.Context, e *env) (addr, skip string, err error)
	// note, when set, adds to the evidence what was left aside to choose the address.
	note func(o *otherTenant) string
}

// probeResults are the probe pod's answers by target id.
type probeResults struct {
	open  map[string]bool
	addrs map[string]string
	skips map[string]string
	errs  map[string]string
	notes map[string]string
}

// controlTargets are the tenant's own pod and Service: they must be reachable, else the
// probe cannot tell a blocked connection from a broken pod.
var controlTargets = []string{"own-pod", "own-service"}

// networkTargets are what a hostile tenant's pod tries to reach; the controls first.
func networkTargets() []target {
	return []target{
		{"own-pod", "control: the tenant's own pod is reachable", ownPod, nil},
		{"own-service", "control: the tenant's own service is reachable", ownService, nil},
		{"other-pod", "another tenant's pod IP", otherPodAddr, func(o *otherTenant) string { return o.PodTarget.note }},
		{"other-service", "another tenant's service ClusterIP", otherServiceAddr, func(o *otherTenant) string { return o.ServiceTarget.note }},
		{"other-api-service", "another tenant's API server Service", otherAPIServiceAddr, nil},
		{"other-api-pod", "another tenant's API server pod", otherAPIPodAddr, nil},
		{"host-api-service", "the host API server (kubernetes Service)", hostAPIServiceAddr, nil},
		{"host-api-endpoint", "the host API server (its endpoint)", hostAPIEndpointAddr, nil},
		{"metadata", "the cloud metadata address " + metadataAddress, func(context.Context, *env) (string, string, error) {
			return metadataAddress, "", nil
		}, nil},
	}
}

// networkGroup: from a real pod of the tenant, a TCP connection to each target.
func networkGroup() group {
	var checks []check
	for _, t := range networkTargets() {
		checks = append(checks, check{t.name, func(_ context.Context, e *env) (Outcome, string) { return e.net.outcome(t.id) }})
	}
	return group{name: "network", setup: runProbe, checks: checks}
}

// outcome is the result of target id; a control must be open, anything else closed.
func (r *probeResults) outcome(id string) (Outcome, string) {
	if why, ok := r.skips[id]; ok {
		return Skip, why
	}
	if why, ok := r.errs[id]; ok {
		return Error, why
	}
	addr := r.addrs[id]
	open, ok := r.open[id]
	note := ""
	if n := r.notes[id]; n != "" {
		note = "; " + n
	}
	switch {
	case !ok:
		return Error, "the probe pod printed no result for " + addr
	case isControl(id) && open:
		return Pass, "nc -w 3 " + addr + ": connected"
	case isControl(id):
		return Error, "nc -w 3 " + addr + ": no connection"
	case open:
		return Fail, "nc -w 3 " + addr + ": connected from the tenant's pod" + note
	}
	return Pass, "nc -w 3 " + addr + ": no connection (refused or timed out)" + note
}

func isControl(id string) bool {
	for _, c := range controlTargets {
		if c == id {
			return true
		}
	}
	return false
}

// The audit's own pod and Service, the controls' targets.
const (
	webName = "kplex-audit-web"
	webPort = 8080
)

// runProbe starts the tenant's own web pod and Service, resolves every target, runs the
// probe pod and reads its answers. It returns why the network checks cannot tell, or "".
func runProbe(ctx context.Context, e *env) string {
	r := &probeResults{open: map[string]bool{}, addrs: map[string]string{}, skips: map[string]string{}, errs: map[string]string{}, notes: map[string]string{}}
	e.net = r
	if why := e.startWeb(ctx); why != "" {
		return why
	}
	var args []string
	for _, t := range networkTargets() {
		addr, skip, err := t.resolve(ctx, e)
		switch {
		case err != nil:
			r.errs[t.id] = err.Error()
		case skip != "":
			r.skips[t.id] = skip
		default:
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				r.errs[t.id] = fmt.Sprintf("address %q: %v", addr, err)
				continue
			}
			r.addrs[t.id] = addr
			args = append(args, t.id, host, port)
			if o, _ := e.otherTenant(ctx); o != nil && t.note != nil {
				r.notes[t.id] = t.note(o)
			}
		}
	}
	ownPod, ok := r.addrs["own-pod"]
	if !ok {
		return "no address for the tenant's own pod: " + r.errs["own-pod"]
	}
	host, port, _ := net.SplitHostPort(ownPod)
	out, why := e.runProbePod(ctx, append([]string{host, port}, args...))
	if why != "" {
		return why
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "kplex-audit" {
			continue
		}
		if open, ok := connected(f[2]); ok {
			r.open[f[1]] = open
		} else {
			r.errs[f[1]] = fmt.Sprintf("the probe of %s ended with status %s, neither connected nor refused: does --image %s have timeout and nc?", r.addrs[f[1]], f[2], e.image)
		}
	}
	for _, id := range controlTargets {
		if !r.open[id] {
			return fmt.Sprintf("positive control failed: the probe pod cannot reach the tenant's own %s (%s), so a blocked connection proves nothing; probe output: %q",
				strings.TrimPrefix(id, "own-"), r.addrs[id], out)
		}
	}
	return ""
}

// probeScript waits (bounded) until the control answers (a network policy enforcer may
// admit a new pod a moment after it starts), then tries each "id host port" once and
// prints "kplex-audit id rc". busybox nc has no -z: it connects (-w 3 bounds the
// connect), sends nothing and waits for the server to close, so rc 0 is connected and
// closed, 1 is refused or timed out, and timeout's kill (143 or 124) connected and held.
const probeScript = `try() { timeout 6 nc -w 3 "$1" "$2" </dev/null >/dev/null 2>&1; }
ctl_host=$1 ctl_port=$2; shift 2
i=0; until try "$ctl_host" "$ctl_port"; do i=$((i+1)); [ $i -ge 20 ] && break; sleep 1; done
while [ $# -ge 3 ]; do
  try "$2" "$3"; echo "kplex-audit $1 $?"
  shift 3
done`

// connected reads the exit status of one probe; ok is false for a status that means
// neither (nc or timeout missing from the image).
func connected(rc string) (open, ok bool) {
	switch rc {
	case "0", "124", "143":
		return true, true
	case "1":
		return false, true
	}
	return false, false
}

// startWeb runs the tenant's own web pod and Service, the controls' targets.
func (e *env) startWeb(ctx context.Context) string {
	p := compliantPod(webName, e.image)
	p.Labels["app"] = webName
	p.Spec.RestartPolicy = corev1.RestartPolicyAlways
	p.Spec.Containers[0].Command = []string{"httpd", "-f", "-p", strconv.Itoa(webPort)}
	p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: webPort, Protocol: corev1.ProtocolTCP}}
	if _, err := e.virtual.Client.CoreV1().Pods(e.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		return fmt.Sprintf("create the control pod %s/%s: %v", e.ns, webName, err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: webName}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": webName},
		Ports:    []corev1.ServicePort{{Port: webPort, Protocol: corev1.ProtocolTCP}},
	}}
	if _, err := e.virtual.Client.CoreV1().Services(e.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Sprintf("create the control Service %s/%s: %v", e.ns, webName, err)
	}
	e.progress.Step("network: waiting for the control pod %s/%s", e.ns, webName)
	if _, why := e.waitPod(ctx, webName, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" }); why != "" {
		return "the control pod did not start: " + why
	}
	return ""
}

// runProbePod runs the probe with args and returns its output.
func (e *env) runProbePod(ctx context.Context, args []string) (string, string) {
	const name = "kplex-audit-probe"
	p := compliantPod(name, e.image)
	p.Spec.Containers[0].Command = append([]string{"sh", "-c", probeScript, "probe"}, args...)
	if _, err := e.virtual.Client.CoreV1().Pods(e.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		return "", fmt.Sprintf("create the probe pod %s/%s: %v", e.ns, name, err)
	}
	e.progress.Step("network: probe pod %s/%s tries %d addresses", e.ns, name, len(args)/3)
	done, why := e.waitPod(ctx, name, func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	if why != "" {
		return "", "the probe pod did not finish: " + why
	}
	out, err := e.virtual.Client.CoreV1().Pods(e.ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Sprintf("read the probe pod's output (phase %s): %v", done.Status.Phase, err)
	}
	return string(out), ""
}

// waitPod waits until cond holds for virtual pod name, within the pod timeout; else it
// says what the pod was waiting for.
func (e *env) waitPod(ctx context.Context, name string, cond func(*corev1.Pod) bool) (*corev1.Pod, string) {
	var p *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, time.Second, e.podTimeout, true, func(ctx context.Context) (bool, error) {
		got, err := e.virtual.Client.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		p = got
		return cond(p), nil
	})
	if err == nil {
		return p, ""
	}
	if p == nil {
		return nil, fmt.Sprintf("pod %s/%s not readable within %s", e.ns, name, e.podTimeout)
	}
	why := fmt.Sprintf("pod %s/%s is %s after %s", e.ns, name, p.Status.Phase, e.podTimeout)
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			why += fmt.Sprintf(" (%s: %s)", w.Reason, w.Message)
		}
	}
	if w := e.warnings(ctx, p); w != "" {
		why += "; " + w
	}
	return p, why + ": check that --image " + e.image + " exists on the host's nodes and runs sh, nc and httpd"
}

func ownPod(ctx context.Context, e *env) (string, string, error) {
	p, err := e.virtual.Client.CoreV1().Pods(e.ns).Get(ctx, webName, metav1.GetOptions{})
	if err != nil {
		return "", "", fmt.Errorf("read the control pod: %w", err)
	}
	return net.JoinHostPort(p.Status.PodIP, strconv.Itoa(webPort)), "", nil
}

func ownService(ctx context.Context, e *env) (string, string, error) {
	s, err := e.virtual.Client.CoreV1().Services(e.ns).Get(ctx, webName, metav1.GetOptions{})
	if err != nil {
		return "", "", fmt.Errorf("read the control Service: %w", err)
	}
	return net.JoinHostPort(s.Spec.ClusterIP, strconv.Itoa(webPort)), "", nil
}

// withOther resolves an address of another tenant, or skips when there is none.
func withOther(ctx context.Context, e *env, addr func(o *otherTenant) (string, string)) (string, string, error) {
	o, err := e.otherTenant(ctx)
	if err != nil {
		return "", "", err
	}
	if o == nil {
		return "", "no other tenant with a running control plane on this host", nil
	}
	a, skip := addr(o)
	return a, skip, nil
}

func otherPodAddr(ctx context.Context, e *env) (string, string, error) {
	return withOther(ctx, e, func(o *otherTenant) (string, string) { return o.PodTarget.addr, o.PodSkip })
}

func otherServiceAddr(ctx context.Context, e *env) (string, string, error) {
	return withOther(ctx, e, func(o *otherTenant) (string, string) { return o.ServiceTarget.addr, o.ServiceSkip })
}

func otherAPIServiceAddr(ctx context.Context, e *env) (string, string, error) {
	return withOther(ctx, e, func(o *otherTenant) (string, string) {
		if o.APIService.Spec.ClusterIP == "" || o.APIService.Spec.ClusterIP == corev1.ClusterIPNone || len(o.APIService.Spec.Ports) == 0 {
			return "", "the API server Service of " + o.Name + " has no ClusterIP"
		}
		return net.JoinHostPort(o.APIService.Spec.ClusterIP, strconv.Itoa(int(o.APIService.Spec.Ports[0].Port))), ""
	})
}

// apiServerPort is where kplexd's API server listens in its pod.
const apiServerPort = 6443

func otherAPIPodAddr(ctx context.Context, e *env) (string, string, error) {
	return withOther(ctx, e, func(o *otherTenant) (string, string) {
		return net.JoinHostPort(o.APIPod.Status.PodIP, strconv.Itoa(apiServerPort)), ""
	})
}

func hostAPIServiceAddr(ctx context.Context, e *env) (string, string, error) {
	s := &corev1.Service{}
	if err := e.host.Client.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceDefault, Name: "kubernetes"}, s); err != nil {
		return "", "", fmt.Errorf("read the host's Service default/kubernetes: %w", e.host.Explain(err))
	}
	if len(s.Spec.Ports) == 0 {
		return "", "the host's Service default/kubernetes has no port", nil
	}
	return net.JoinHostPort(s.Spec.ClusterIP, strconv.Itoa(int(s.Spec.Ports[0].Port))), "", nil
}

func hostAPIEndpointAddr(ctx context.Context, e *env) (string, string, error) {
	l := &discoveryv1.EndpointSliceList{}
	if err := e.host.Client.List(ctx, l, client.InNamespace(metav1.NamespaceDefault), client.MatchingLabels{discoveryv1.LabelServiceName: "kubernetes"}); err != nil {
		return "", "", fmt.Errorf("read the host's EndpointSlices of default/kubernetes: %w", e.host.Explain(err))
	}
	for _, s := range l.Items {
		for _, ep := range s.Endpoints {
			for _, p := range s.Ports {
				if len(ep.Addresses) > 0 && p.Port != nil {
					return net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(*p.Port))), "", nil
				}
			}
		}
	}
	return "", "the host's Service default/kubernetes has no endpoint", nil
}

package audit

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
)

// kubeletProxyGroup: the tenant's logs, exec and node proxy reach its own pods only.
// Every attempt names a pod that runs on the host in another namespace (another tenant's,
// else kplex's operator) and goes through the virtual API server only.
func kubeletProxyGroup() group {
	return group{name: "kubelet proxy", checks: []check{
		{"logs of another tenant's pod", foreignLogs},
		{"exec in another tenant's pod", foreignExec},
		{"node proxy containerLogs of another tenant's pod", foreignNodeProxyLogs},
	}}
}

// withForeignPod runs attempt on the foreign pod, or skips when the host has none.
func withForeignPod(ctx context.Context, e *env, attempt func(p *corev1.Pod) (Outcome, string)) (Outcome, string) {
	p, err := e.foreignPod(ctx)
	if err != nil {
		return Error, err.Error()
	}
	if p == nil {
		return Skip, "no running pod of another tenant or of kplex on the host to aim at"
	}
	o, evidence := attempt(p)
	return o, fmt.Sprintf("host pod %s/%s: %s", p.Namespace, p.Name, evidence)
}

func foreignLogs(ctx context.Context, e *env) (Outcome, string) {
	return withForeignPod(ctx, e, func(p *corev1.Pod) (Outcome, string) {
		out, err := e.virtual.Client.CoreV1().Pods(e.ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: p.Spec.Containers[0].Name}).DoRaw(ctx)
		return refused(err, fmt.Sprintf("got its logs through the virtual API server: %q", truncate(out)), nil)
	})
}

func foreignExec(ctx context.Context, e *env) (Outcome, string) {
	return withForeignPod(ctx, e, func(p *corev1.Pod) (Outcome, string) {
		req := e.virtual.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(e.ns).Name(p.Name).SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: p.Spec.Containers[0].Name, Command: []string{"hostname"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
		ws, err := remotecommand.NewWebSocketExecutor(e.virtual.Config, http.MethodGet, req.URL().String())
		if err != nil {
			return Error, "exec client: " + err.Error()
		}
		spdy, err := remotecommand.NewSPDYExecutor(e.virtual.Config, http.MethodPost, req.URL())
		if err != nil {
			return Error, "exec client: " + err.Error()
		}
		ex, err := remotecommand.NewFallbackExecutor(ws, spdy, httpstream.IsUpgradeFailure)
		if err != nil {
			return Error, "exec client: " + err.Error()
		}
		var stdout, stderr bytes.Buffer
		err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
		if err == nil {
			return Fail, fmt.Sprintf("exec ran in it through the virtual API server: hostname printed %q", truncate(stdout.Bytes()))
		}
		// A refused exec fails the stream; its message is the API server's answer.
		if o, evidence := refused(err, "", nil); o == Pass {
			return o, evidence
		}
		return Pass, "exec refused: " + err.Error()
	})
}

// foreignNodeProxyLogs asks the virtual node's kubelet endpoint directly for the foreign
// pod's container log, as the tenant's cluster-admin may through nodes/proxy.
func foreignNodeProxyLogs(ctx context.Context, e *env) (Outcome, string) {
	nodes, err := e.virtual.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Error, "list the virtual cluster's nodes: " + err.Error()
	}
	if len(nodes.Items) == 0 {
		return Skip, "the virtual cluster shows no node (it runs no pod yet)"
	}
	node := nodes.Items[0].Name
	return withForeignPod(ctx, e, func(p *corev1.Pod) (Outcome, string) {
		path := fmt.Sprintf("/api/v1/nodes/%s/proxy/containerLogs/%s/%s/%s", node, p.Namespace, p.Name, p.Spec.Containers[0].Name)
		out, err := e.virtual.Client.CoreV1().RESTClient().Get().AbsPath(path).DoRaw(ctx)
		if err != nil {
			return Pass, "GET " + path + " refused: " + err.Error()
		}
		return Fail, fmt.Sprintf("GET %s answered: %q", path, truncate(out))
	})
}

// truncate keeps evidence of what leaked short.
func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

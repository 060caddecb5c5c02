package lifecycle

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplex-dev/kplex/internal/devhost/cleanup"
	"github.com/kplex-dev/kplex/internal/devhost/layout"
	"github.com/kplex-dev/kplex/internal/devhost/netns"
	"github.com/kplex-dev/kplex/internal/devhost/proc"
	"github.com/kplex-dev/kplex/internal/readyz"
)

// Status prints what runs and returns an error when the devhost is not
// running (so that scripts can test it).
func Status(ctx context.Context, l layout.Layout, out io.Writer) error {
	pid, _ := proc.ReadPidFile(l.PidFile())
	running := proc.Running(pid, daemonMarks()...)
	own := netns.Inspect()
	row := func(k, v string) { fmt.Fprintf(out, "%-12s %s\n", k+":", v) }

	row("data dir", l.DataDir)
	if running {
		row("daemon", fmt.Sprintf("running (pid %d), log %s", pid, l.DaemonLog()))
	} else {
		row("daemon", "not running")
	}
	switch {
	case own.NetnsExists && own.Owner == l.DataDir:
		row("network", fmt.Sprintf("%s: node %s, machine %s", layout.NetnsName, layout.NodeIP, layout.HostIP))
	case own.NetnsExists:
		row("network", fmt.Sprintf("%s exists but belongs to %q", layout.NetnsName, own.Owner))
	default:
		row("network", "absent")
	}
	if st, err := readState(l); err == nil && st.NetnsInode != 0 {
		if procs, err := cleanup.Processes(st.NetnsInode, layout.CgroupRoot); err == nil {
			row("processes", fmt.Sprintf("%d (daemon, containerd, shims, containers)", len(procs)))
		}
	}
	if !running {
		return fmt.Errorf("devhost is not running: start it with kplex-devhost up")
	}
	client, err := machineClient(l)
	if err != nil {
		row("api server", err.Error())
		return fmt.Errorf("devhost API server unreachable: see %s", l.DaemonLog())
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := readyz.Check(ctx, client.Discovery().RESTClient()); err != nil {
		row("api server", fmt.Sprintf("%s not ready: %v", layout.APIServerURL, err))
		return fmt.Errorf("devhost API server not ready: see %s", l.DaemonLog())
	}
	row("api server", "ready at "+layout.APIServerURL)
	node, err := client.CoreV1().Nodes().Get(ctx, layout.NodeName, metav1.GetOptions{})
	if err != nil {
		row("node", err.Error())
		return fmt.Errorf("devhost node missing: see %s", l.DaemonLog())
	}
	ready := "NotReady"
	if nodeReady(node) {
		ready = "Ready"
	}
	row("node", fmt.Sprintf("%s %s (kubelet %s, pod CIDR %s)", node.Name, ready, node.Status.NodeInfo.KubeletVersion, node.Spec.PodCIDR))
	if pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err == nil {
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		row("pods", fmt.Sprintf("%d, %d running", len(pods.Items), running))
	}
	row("kubeconfig", l.Kubeconfig())
	if ready != "Ready" {
		return fmt.Errorf("devhost node is NotReady: see %s", l.DaemonLog())
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// machineClient is a client from the machine's side, through the kubeconfig devhost wrote.
func machineClient(l layout.Layout) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig())
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", l.Kubeconfig(), err)
	}
	rc.Timeout = 5 * time.Second
	rc.Dial = (&net.Dialer{Timeout: 2 * time.Second}).DialContext
	return kubernetes.NewForConfig(rc)
}

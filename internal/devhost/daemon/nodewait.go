package daemon

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// waitNode polls the node until cond holds, a component fails, or ctx ends.
func (d *daemon) waitNode(ctx context.Context, client kubernetes.Interface, name, what string, cond func(*corev1.Node) bool) (*corev1.Node, error) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil && cond(node) {
			return node, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for node %s to be %s: %w", name, what, ctx.Err())
		case err := <-d.failures:
			return nil, err
		case <-t.C:
		}
	}
}

func registered(*corev1.Node) bool { return true }

func hasPodCIDR(n *corev1.Node) bool { return n.Spec.PodCIDR != "" }

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

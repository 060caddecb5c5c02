package main

import (
	"context"
	"fmt"
	"os"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/utils/ptr"
)

// benchNode is the host node the benchmark's pods are scheduled to.
const benchNode = "bench-node"

// fakeNode registers a Ready node on the host, as a kubelet would, and renews its Lease
// until ctx ends, so that the host's scheduler binds every pod once, as on a real cluster.
// Without a node each pod stays unschedulable and the scheduler retries it, writing
// FailedScheduling events and status that then travel to the tenant: work that depends on
// the scheduler's backoff timing, not on the syncer, and that no real host does.
func fakeNode(ctx context.Context, cs kubernetes.Interface) error {
	capacity := corev1.ResourceList{
		corev1.ResourcePods:   resource.MustParse("10000"),
		corev1.ResourceCPU:    resource.MustParse("1000"),
		corev1.ResourceMemory: resource.MustParse("4Ti"),
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: benchNode, Labels: map[string]string{corev1.LabelHostname: benchNode}}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create node %s: %w", benchNode, err)
	}
	now := metav1.Now()
	n.Status = corev1.NodeStatus{
		Capacity: capacity, Allocatable: capacity,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: now, LastTransitionTime: now}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.2"}},
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of node %s: %w", benchNode, err)
	}
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: benchNode},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(benchNode), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	leases := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	lease, err := leases.Create(ctx, lease, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node lease: %w", err)
	}
	go renew(ctx, leases, lease)
	return nil
}

// renew keeps the node's Lease fresh every 10 s, as a kubelet does.
func renew(ctx context.Context, leases coordinationclient.LeaseInterface, lease *coordinationv1.Lease) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		l, err := leases.Update(ctx, lease, metav1.UpdateOptions{})
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "renew node lease: %v\n", err)
			}
			continue
		}
		lease = l
	}
}

package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/internal/syncer"
	"github.com/kplex-dev/kplex/internal/translate"
)

// publicNodeLabel reports the only host node labels a virtual node may carry.
func publicNodeLabel(k string) bool {
	switch k {
	case "kubernetes.io/hostname", "kubernetes.io/os", "kubernetes.io/arch",
		"topology.kubernetes.io/zone", "topology.kubernetes.io/region", "node.kubernetes.io/instance-type":
		return true
	}
	return false
}

// TestSyncerNodes: a virtual node exists exactly while one of the tenant's pods runs on
// its host node, shows nothing private of the host node, points at the kubelet proxy,
// and is put back when the tenant deletes or edits it.
func TestSyncerNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := newSyncEnv(ctx, t)
	mustNamespace(ctx, t, e.vAdmin, "edge")
	waitServiceAccount(ctx, t, e.vAdmin, "edge")

	// Host nodes as a host kubelet would register them, with data no tenant may see.
	for _, name := range []string{"worker-a", "worker-b"} {
		createHostNode(ctx, t, e, name)
	}
	// Another tenant's pod on worker-b, in the same host namespace: no virtual node for it.
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other-tenant-pod", Labels: map[string]string{translate.LabelManagedBy: "other"}},
		Spec: corev1.PodSpec{NodeName: "worker-b", Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	if _, err := e.hostAdmin.CoreV1().Pods(hostNS).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A node the tenant made itself: never touched.
	if _, err := e.vAdmin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "tenant-own"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A tenant pod and Service; the test plays the host's scheduler and kubelet.
	if _, err := e.vAdmin.CoreV1().Services("edge").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "api"}, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vAdmin.CoreV1().Pods("edge").Create(ctx, testPod("edge", "api"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bindHostPod(ctx, t, e, "edge", "api", "worker-a")
	setRunningIn(ctx, t, e, "edge", "api", "10.244.3.9", 0)

	vn := waitVirtualNode(ctx, t, e, "worker-a", nil)
	checkVirtualNode(t, vn)
	if _, err := e.vAdmin.CoreV1().Nodes().Get(ctx, "worker-b", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("worker-b runs no pod of the tenant, yet: %v", err)
	}

	t.Run("EndpointSlices list the pod with its node", func(t *testing.T) {
		eventually(ctx, t, "virtual EndpointSlice with the pod", func(ctx context.Context) (bool, error) {
			slices, err := e.vAdmin.DiscoveryV1().EndpointSlices("edge").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=api"})
			if err != nil {
				return false, err
			}
			for _, s := range slices.Items {
				for _, ep := range s.Endpoints {
					if len(ep.Addresses) == 1 && ep.Addresses[0] == "10.244.3.9" && ptr.Deref(ep.NodeName, "") == "worker-a" {
						return true, nil
					}
				}
			}
			return false, nil
		})
	})

	t.Run("host node status flows to the virtual node", func(t *testing.T) {
		eventually(ctx, t, "host node status update", func(ctx context.Context) (bool, error) {
			hn, err := e.hostAdmin.CoreV1().Nodes().Get(ctx, "worker-a", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			hn.Status.Capacity[corev1.ResourcePods] = resource.MustParse("42")
			_, err = e.hostAdmin.CoreV1().Nodes().UpdateStatus(ctx, hn, metav1.UpdateOptions{})
			return err == nil, err
		})
		vn := waitVirtualNode(ctx, t, e, "worker-a", func(n *corev1.Node) bool { return n.Status.Capacity.Pods().Value() == 42 })
		checkVirtualNode(t, vn)
	})

	t.Run("a node the tenant deletes is put back", func(t *testing.T) {
		old := waitVirtualNode(ctx, t, e, "worker-a", nil)
		if err := e.vAdmin.CoreV1().Nodes().Delete(ctx, "worker-a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		checkVirtualNode(t, waitVirtualNode(ctx, t, e, "worker-a", func(n *corev1.Node) bool { return n.UID != old.UID }))
	})

	t.Run("a node the tenant edits is put back", func(t *testing.T) {
		eventually(ctx, t, "tenant's edit", func(ctx context.Context) (bool, error) {
			n, err := e.vAdmin.CoreV1().Nodes().Get(ctx, "worker-a", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			n.Labels[translate.LabelManagedBy] = "someone-else"
			n.Labels["pool"] = "mine"
			n.Annotations = map[string]string{"note": "x"}
			n.Finalizers = []string{"tenant/keep"}
			n.Spec.Taints = []corev1.Taint{{Key: "evict", Effect: corev1.TaintEffectNoExecute}}
			n.Spec.PodCIDR = "10.9.0.0/24" // settable once: only a new node undoes it
			_, err = e.vAdmin.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			return err == nil, err
		})
		eventually(ctx, t, "tenant's status edit", func(ctx context.Context) (bool, error) {
			n, err := e.vAdmin.CoreV1().Nodes().Get(ctx, "worker-a", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.50.5"}}
			n.Status.DaemonEndpoints.KubeletEndpoint.Port = 10250
			_, err = e.vAdmin.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err == nil || apierrors.IsNotFound(err), err
		})
		vn := waitVirtualNode(ctx, t, e, "worker-a", func(n *corev1.Node) bool {
			return n.Labels["pool"] == "" && n.Spec.PodCIDR == "" && len(n.Finalizers) == 0 &&
				n.Status.Addresses[0].Address == syncer.DefaultKubeletAddress
		})
		checkVirtualNode(t, vn)
	})

	t.Run("the virtual node goes with the last pod", func(t *testing.T) {
		// A second pod on the same node keeps it.
		if _, err := e.vAdmin.CoreV1().Pods("edge").Create(ctx, testPod("edge", "worker"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		bindHostPod(ctx, t, e, "edge", "worker", "worker-a")
		for _, name := range []string{"api", "worker"} {
			deletePodAsKubelet(ctx, t, e, "edge", name)
			if name == "api" {
				time.Sleep(2 * time.Second) // long enough for a wrong deletion to happen
				if _, err := e.vAdmin.CoreV1().Nodes().Get(ctx, "worker-a", metav1.GetOptions{}); err != nil {
					t.Fatalf("virtual node gone while a pod still runs on it: %v", err)
				}
			}
		}
		eventually(ctx, t, "virtual node worker-a deleted", func(ctx context.Context) (bool, error) {
			_, err := e.vAdmin.CoreV1().Nodes().Get(ctx, "worker-a", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if _, err := e.vAdmin.CoreV1().Nodes().Get(ctx, "tenant-own", metav1.GetOptions{}); err != nil {
			t.Errorf("the tenant's own node was deleted: %v", err)
		}
		if _, err := e.hostAdmin.CoreV1().Nodes().Get(ctx, "worker-a", metav1.GetOptions{}); err != nil {
			t.Errorf("host node: %v", err)
		}
	})
}

func createHostNode(ctx context.Context, t *testing.T, e *syncEnv, name string) {
	t.Helper()
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"topology.kubernetes.io/zone": "zone-1", "node-pool": "tenants-private", "node-role.kubernetes.io/worker": "",
			},
			Annotations: map[string]string{"host.example/secret": "s3cr3t"},
		},
		Spec: corev1.NodeSpec{
			// The test places the pods itself: the host's scheduler must not.
			Unschedulable: true,
			PodCIDR:       "10.244.3.0/24", ProviderID: "kplex-test://" + name,
			Taints: []corev1.Taint{{Key: "dedicated", Value: "other", Effect: corev1.TaintEffectPreferNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3500m"), corev1.ResourceMemory: resource.MustParse("7Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.3.3"}, {Type: corev1.NodeHostName, Address: name + ".internal"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{MachineID: "machine", SystemUUID: "uuid", BootID: "boot", KernelVersion: "6.1.0-host",
				OSImage: "Debian GNU/Linux 12", ContainerRuntimeVersion: "containerd://1.6.20", KubeletVersion: "v1.37.2",
				OperatingSystem: "linux", Architecture: "amd64"},
			Images: []corev1.ContainerImage{{Names: []string{"registry.internal/other/app:1"}, SizeBytes: 1}},
		},
	}
	if _, err := e.hostAdmin.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// bindHostPod schedules the host copy of a virtual pod on node, as the host's scheduler.
func bindHostPod(ctx context.Context, t *testing.T, e *syncEnv, ns, name, node string) {
	t.Helper()
	hp := e.waitHostPod(ctx, t, ns, name, nil)
	err := e.hostAdmin.CoreV1().Pods(hostNS).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: hp.Name, UID: hp.UID},
		Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// deletePodAsKubelet deletes a virtual pod and finishes its host pod as the host kubelet would.
func deletePodAsKubelet(ctx context.Context, t *testing.T, e *syncEnv, ns, name string) {
	t.Helper()
	if err := e.vAdmin.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	hp := e.waitHostPod(ctx, t, ns, name, func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
	if err := e.hostAdmin.CoreV1().Pods(hostNS).Delete(ctx, hp.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	e.waitHostPodGone(ctx, t, ns, name)
}

// waitVirtualNode waits for a virtual node that meets cond once the syncer has settled it:
// the API server's admission taints a new node not-ready, and the syncer removes that too.
func waitVirtualNode(ctx context.Context, t *testing.T, e *syncEnv, name string, cond func(*corev1.Node) bool) *corev1.Node {
	t.Helper()
	var got *corev1.Node
	eventually(ctx, t, "virtual node "+name, func(ctx context.Context) (bool, error) {
		n, err := e.vAdmin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = n
		return len(n.Spec.Taints) == 0 && (cond == nil || cond(n)), nil
	})
	return got
}

// checkVirtualNode asserts that a virtual node shows only public host data and points at
// the kubelet proxy.
func checkVirtualNode(t *testing.T, n *corev1.Node) {
	t.Helper()
	for k, v := range n.Labels {
		if !publicNodeLabel(k) && !(k == translate.LabelManagedBy && v == syncTenant) {
			t.Errorf("virtual node %s has label %s=%s", n.Name, k, v)
		}
	}
	if n.Labels["topology.kubernetes.io/zone"] != "zone-1" || n.Labels["kubernetes.io/hostname"] != n.Name {
		t.Errorf("virtual node %s lacks public labels: %v", n.Name, n.Labels)
	}
	if len(n.Annotations) > 0 || len(n.Spec.Taints) > 0 || n.Spec.PodCIDR != "" || n.Spec.ProviderID != "" || n.Spec.Unschedulable {
		t.Errorf("virtual node %s carries host annotations or spec: %v %+v", n.Name, n.Annotations, n.Spec)
	}
	s := n.Status
	if len(s.Addresses) != 1 || s.Addresses[0].Type != corev1.NodeInternalIP || s.Addresses[0].Address != syncer.DefaultKubeletAddress ||
		s.DaemonEndpoints.KubeletEndpoint.Port != syncer.DefaultKubeletPort {
		t.Errorf("virtual node %s does not point at the kubelet proxy: %+v %+v", n.Name, s.Addresses, s.DaemonEndpoints)
	}
	if len(s.Images) > 0 || s.NodeInfo.MachineID != "" || s.NodeInfo.BootID != "" || s.NodeInfo.KernelVersion != "" || s.NodeInfo.OSImage != "" {
		t.Errorf("virtual node %s shows host images or identifiers: %+v", n.Name, s.NodeInfo)
	}
	if s.NodeInfo.KubeletVersion != "v1.37.2" || s.Capacity.Cpu().String() != "4" || s.Allocatable.Memory().String() != "7Gi" {
		t.Errorf("virtual node %s lacks capacity or versions: %+v %+v", n.Name, s.Capacity, s.NodeInfo)
	}
	var ready bool
	for _, c := range s.Conditions {
		ready = ready || c.Type == corev1.NodeReady
	}
	if !ready {
		t.Errorf("virtual node %s has no Ready condition", n.Name)
	}
}

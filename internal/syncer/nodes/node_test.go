package nodes

import (
	"net"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// hostNode is a host node with every kind of data a tenant must not see.
func hostNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: "worker-7", UID: "host-uid", ResourceVersion: "42",
			Labels: map[string]string{
				"kubernetes.io/hostname":           "worker-7",
				"kubernetes.io/os":                 "linux",
				"kubernetes.io/arch":               "amd64",
				"topology.kubernetes.io/zone":      "z1",
				"topology.kubernetes.io/region":    "r1",
				"node.kubernetes.io/instance-type": "m5.large",
				"node-role.kubernetes.io/gpu":      "",
				"kplex.dev/managed-by":             "other-tenant",
				"pool":                             "secret-pool",
			},
			Annotations:     map[string]string{"node.alpha.kubernetes.io/ttl": "0", "cluster.x-k8s.io/owner": "mgmt"},
			Finalizers:      []string{"host/finalizer"},
			OwnerReferences: []metav1.OwnerReference{{Name: "machine-7"}},
		},
		Spec: corev1.NodeSpec{
			PodCIDR: "10.244.7.0/24", ProviderID: "aws:///i-123", Unschedulable: true,
			Taints: []corev1.Taint{{Key: "dedicated", Value: "other-tenant", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Capacity:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3500m")},
			Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}},
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.7.7"}, {Type: corev1.NodeHostName, Address: "worker-7.internal"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID: "m", SystemUUID: "u", BootID: "b", KernelVersion: "6.1.0-secret", OSImage: "Debian 12",
				ContainerRuntimeVersion: "containerd://1.6.20", KubeletVersion: "v1.37.2", KubeProxyVersion: "v1.37.2",
				OperatingSystem: "linux", Architecture: "amd64",
			},
			Images:          []corev1.ContainerImage{{Names: []string{"registry.internal/other-tenant/app:1"}}},
			VolumesInUse:    []corev1.UniqueVolumeName{"kubernetes.io/csi/other-tenant-volume"},
			VolumesAttached: []corev1.AttachedVolume{{Name: "kubernetes.io/csi/other-tenant-volume"}},
		},
	}
}

func TestVirtual(t *testing.T) {
	h := hostNode()
	before := h.DeepCopy()
	v := Virtual("acme", h, Kubelet{Address: net.ParseIP("127.0.0.1"), Port: 34567})
	if !reflect.DeepEqual(h, before) {
		t.Error("Virtual changed the host node")
	}
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: "worker-7",
			Labels: map[string]string{
				"kubernetes.io/hostname":           "worker-7",
				"kubernetes.io/os":                 "linux",
				"kubernetes.io/arch":               "amd64",
				"topology.kubernetes.io/zone":      "z1",
				"topology.kubernetes.io/region":    "r1",
				"node.kubernetes.io/instance-type": "m5.large",
				"kplex.dev/managed-by":             "acme",
			},
		},
		Status: corev1.NodeStatus{
			Capacity:        h.Status.Capacity,
			Allocatable:     h.Status.Allocatable,
			Conditions:      h.Status.Conditions,
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 34567}},
			NodeInfo: corev1.NodeSystemInfo{
				ContainerRuntimeVersion: "containerd://1.6.20", KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: "amd64",
			},
		},
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("virtual node\n got %+v\nwant %+v", v, want)
	}
}

func TestVirtualOfBareNode(t *testing.T) {
	v := Virtual("acme", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}, Kubelet{Address: net.ParseIP("::1"), Port: 10250})
	if v.Labels[LabelManagedBy] != "acme" || len(v.Labels) != 1 || v.Status.Addresses[0].Address != "::1" {
		t.Errorf("virtual node of a bare host node: %+v", v)
	}
}

func TestHostCacheTransform(t *testing.T) {
	tf := HostCache().Transform
	out, err := tf(hostNode())
	if err != nil {
		t.Fatal(err)
	}
	n := out.(*corev1.Node)
	if n.ResourceVersion != "42" || n.UID != "host-uid" {
		t.Errorf("the cache needs the resource version and UID: %+v", n.ObjectMeta)
	}
	if len(n.Annotations)+len(n.Status.Images)+len(n.Status.Addresses)+len(n.Spec.Taints) > 0 || n.Spec.PodCIDR != "" || n.Status.NodeInfo.BootID != "" {
		t.Errorf("the host node cache keeps private data: %+v", n)
	}
	if _, ok := n.Labels["pool"]; ok {
		t.Error("the host node cache keeps a private label")
	}
	// Tombstones pass through untouched.
	tomb := struct{ Key string }{"worker-7"}
	if got, err := tf(tomb); err != nil || got != tomb {
		t.Errorf("tombstone: %v %v", got, err)
	}
}

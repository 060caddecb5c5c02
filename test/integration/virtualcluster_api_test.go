package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/testenv"
)

// installKplex applies every object of `kplex install` (the CRD, kplex-system, RBAC, the
// operator Deployment) and returns a dynamic client of VirtualClusters.
func installKplex(ctx context.Context, t *testing.T, cfg *rest.Config) dynamic.ResourceInterface {
	t.Helper()
	testenv.InstallKplex(ctx, t, cfg, install.Options{})
	return dynamic.NewForConfigOrDie(cfg).Resource(v1alpha1.GroupVersion.WithResource("virtualclusters"))
}

func virtualClusterObject(name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(v1alpha1.GroupVersion.String())
	u.SetKind("VirtualCluster")
	u.SetName(name)
	return u
}

// TestVirtualClusterAdmission: `kplex install`'s objects are accepted, and the API server
// itself applies the defaults and refuses bad specs with a message naming the field.
func TestVirtualClusterAdmission(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp := testenv.NewControlPlane(t)
	cp.Start(ctx)
	vcs := installKplex(ctx, t, cp.RESTConfig())

	t.Run("empty spec gets the defaults", func(t *testing.T) {
		got, err := vcs.Create(ctx, virtualClusterObject("defaults", map[string]any{}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for path, want := range map[string]string{
			"spec.datastore.type":        "Embedded",
			"spec.isolation.podSecurity": "restricted",
			"spec.expose.type":           "ClusterIP",
		} {
			v, _, _ := unstructured.NestedString(got.Object, strings.Split(path, ".")...)
			if v != want {
				t.Errorf("%s = %q, want %q", path, v, want)
			}
		}
		quota, _, _ := unstructured.NestedMap(got.Object, "spec", "isolation", "quota")
		for k, want := range map[string]any{"cpu": "4", "memory": "8Gi", "storage": "20Gi", "pods": int64(50), "persistentVolumeClaims": int64(10),
			"services": int64(20), "servicesNodePorts": int64(2), "servicesLoadBalancers": int64(1), "defaultCPURequest": "100m", "defaultMemoryRequest": "128Mi"} {
			if quota[k] != want {
				t.Errorf("spec.isolation.quota.%s = %v, want %v", k, quota[k], want)
			}
		}
		if v, found, _ := unstructured.NestedBool(got.Object, "spec", "isolation", "allowNodePorts"); v || found {
			t.Errorf("spec.isolation.allowNodePorts = %v (set %v), want unset (false)", v, found)
		}
	})

	long := strings.Repeat("a", 58)
	for _, tc := range []struct {
		name, vcName string
		spec         map[string]any
		want         string
	}{
		{"name too long for a namespace", long, map[string]any{}, "metadata.name must be at most 57 characters"},
		{"name with a dot", "a.b", map[string]any{}, "metadata.name must be a DNS label"},
		{"external datastore without secret", "ext", map[string]any{"datastore": map[string]any{"type": "External"}}, "spec.datastore.external is required"},
		{"external datastore with empty secret name", "ext2", map[string]any{"datastore": map[string]any{"type": "External", "external": map[string]any{"secretRef": map[string]any{"name": ""}}}}, "spec.datastore.external.secretRef.name"},
		{"embedded settings on an external datastore", "ext3", map[string]any{"datastore": map[string]any{"type": "External", "external": map[string]any{"secretRef": map[string]any{"name": "pg"}}, "embedded": map[string]any{}}}, "spec.datastore.embedded is only allowed"},
		{"unknown datastore type", "ds", map[string]any{"datastore": map[string]any{"type": "Etcd"}}, "spec.datastore.type"},
		{"privileged pod security", "priv", map[string]any{"isolation": map[string]any{"podSecurity": "privileged"}}, "spec.isolation.podSecurity"},
		{"unknown expose type", "exp", map[string]any{"expose": map[string]any{"type": "Ingress"}}, "spec.expose.type"},
		{"zero sync qps", "qps", map[string]any{"sync": map[string]any{"qps": -1}}, "spec.sync.qps"},
		{"negative cpu quota", "q1", quota(map[string]any{"cpu": "-1"}), "spec.isolation.quota.cpu must not be negative"},
		{"memory quota not a quantity", "q2", quota(map[string]any{"memory": "lots"}), "spec.isolation.quota.memory"},
		{"negative pods quota", "q3", quota(map[string]any{"pods": -1}), "spec.isolation.quota.pods"},
		{"zero default memory request", "q4", quota(map[string]any{"defaultMemoryRequest": "0"}), "spec.isolation.quota.defaultMemoryRequest must be positive"},
		{"sleep after 10s of inactivity", "sl1", map[string]any{"sleep": map[string]any{"afterInactivity": "10s"}}, "spec.sleep.afterInactivity must be at least 1m"},
		{"sleep after nonsense", "sl2", map[string]any{"sleep": map[string]any{"afterInactivity": "soon"}}, "spec.sleep.afterInactivity"},
		{"allowNodePorts not a bool", "np", map[string]any{"isolation": map[string]any{"allowNodePorts": "yes"}}, "spec.isolation.allowNodePorts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vcs.Create(ctx, virtualClusterObject(tc.vcName, tc.spec), metav1.CreateOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}

	t.Run("datastore is immutable", func(t *testing.T) {
		vc, err := vcs.Create(ctx, virtualClusterObject("immutable", map[string]any{}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := unstructured.SetNestedField(vc.Object, "100Gi", "spec", "datastore", "embedded", "size"); err != nil {
			t.Fatal(err)
		}
		_, err = vcs.Update(ctx, vc, metav1.UpdateOptions{})
		if err == nil || !strings.Contains(err.Error(), "spec.datastore is immutable") {
			t.Fatalf("changing the datastore: got %v, want it refused as immutable", err)
		}
		if err := unstructured.SetNestedField(vc.Object, "NodePort", "spec", "expose", "type"); err != nil {
			t.Fatal(err)
		}
		unstructured.RemoveNestedField(vc.Object, "spec", "datastore", "embedded")
		if _, err := vcs.Update(ctx, vc, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("changing the exposure must be allowed: %v", err)
		}
	})
}

func quota(q map[string]any) map[string]any {
	return map[string]any{"isolation": map[string]any{"quota": q}}
}

package create

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/api/v1alpha1"
)

func TestSpecFromFlags(t *testing.T) {
	size := resource.MustParse("2Gi")
	embedded := v1alpha1.Datastore{Type: v1alpha1.DatastoreEmbedded}
	for _, tc := range []struct {
		name  string
		flags SpecFlags
		want  v1alpha1.VirtualClusterSpec
	}{
		{"no flags: defaults", SpecFlags{}, v1alpha1.VirtualClusterSpec{Datastore: embedded}},
		{"expose and pod security, any case", SpecFlags{Expose: "nodeport", PodSecurity: "Baseline"}, v1alpha1.VirtualClusterSpec{Datastore: embedded,
			Expose: v1alpha1.Expose{Type: v1alpha1.ExposeNodePort}, Isolation: v1alpha1.Isolation{PodSecurity: v1alpha1.PodSecurityBaseline}}},
		{"embedded storage", SpecFlags{StorageSize: "2Gi", StorageClass: "fast"}, v1alpha1.VirtualClusterSpec{
			Datastore: v1alpha1.Datastore{Type: v1alpha1.DatastoreEmbedded, Embedded: &v1alpha1.EmbeddedDatastore{Size: &size, StorageClassName: ptr.To("fast")}}}},
		{"external datastore with key", SpecFlags{DatastoreSecret: "pg:url"}, v1alpha1.VirtualClusterSpec{
			Datastore: v1alpha1.Datastore{Type: v1alpha1.DatastoreExternal, External: &v1alpha1.ExternalDatastore{SecretRef: v1alpha1.SecretKeyRef{Name: "pg", Key: "url"}}}}},
		{"external datastore, default key", SpecFlags{DatastoreSecret: "pg"}, v1alpha1.VirtualClusterSpec{
			Datastore: v1alpha1.Datastore{Type: v1alpha1.DatastoreExternal, External: &v1alpha1.ExternalDatastore{SecretRef: v1alpha1.SecretKeyRef{Name: "pg"}}}}},
		{"image and sync", SpecFlags{Image: "localhost/x:1", SyncQPS: 20, SyncBurst: 40}, v1alpha1.VirtualClusterSpec{Datastore: embedded,
			ControlPlane: v1alpha1.ControlPlane{Image: "localhost/x:1"}, Sync: v1alpha1.Sync{QPS: 20, Burst: 40}}},
		{"sleep after half an hour", SpecFlags{SleepAfter: 30 * time.Minute}, v1alpha1.VirtualClusterSpec{Datastore: embedded,
			Sleep: v1alpha1.Sleep{AfterInactivity: &metav1.Duration{Duration: 30 * time.Minute}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.flags.Spec()
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("spec %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSpecFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		flags SpecFlags
		want  string
	}{
		{SpecFlags{Expose: "Ingress"}, `--expose "Ingress": use one of ClusterIP, NodePort, LoadBalancer`},
		{SpecFlags{PodSecurity: "privileged"}, `--pod-security "privileged": use one of restricted, baseline`},
		{SpecFlags{StorageSize: "lots"}, `--storage-size "lots" is not a positive size`},
		{SpecFlags{StorageSize: "-1Gi"}, `--storage-size "-1Gi" is not a positive size`},
		{SpecFlags{DatastoreSecret: "pg", StorageSize: "1Gi"}, "pass one or the other"},
		{SpecFlags{DatastoreSecret: ":dsn"}, "give the Secret's name"},
		{SpecFlags{SyncQPS: -1}, "--sync-qps and --sync-burst must be positive"},
		{SpecFlags{SleepAfter: 10 * time.Second}, "--sleep-after 10s: give at least 1m"},
		{SpecFlags{SleepAfter: -time.Minute}, "--sleep-after -1m0s"},
	} {
		if _, err := tc.flags.Spec(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.flags, err, tc.want)
		}
	}
}

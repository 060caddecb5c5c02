package operator

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/podsecurity"
	"github.com/kplex-dev/kplex/internal/translate"
)

func vc(name string, mutate func(*v1alpha1.VirtualClusterSpec)) *v1alpha1.VirtualCluster {
	v := &v1alpha1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: name}}
	v.Spec.Datastore.Type = v1alpha1.DatastoreEmbedded
	if mutate != nil {
		mutate(&v.Spec)
	}
	return v
}

func TestStatefulSet(t *testing.T) {
	const ip = "10.96.0.42"
	for _, tc := range []struct {
		name       string
		vc         *v1alpha1.VirtualCluster
		wantImage  string
		wantArgs   []string
		noArgs     []string
		wantSize   string
		wantClass  *string
		wantEnv    string
		wantMemory string
	}{
		{
			name: "defaults", vc: vc("a", nil), wantImage: "kplexd:default", wantSize: "1Gi", wantMemory: "320Mi",
			wantArgs: []string{"controlplane", "--name=a", "--host-namespace=kplex-a", "--tenant-api-host=10.96.0.42:443",
				"--tls-san=10.96.0.42", "--tls-san=kplex-apiserver.kplex-a.svc", "--advertise-address=$(POD_IP)",
				"--publish-kubeconfig-secret=kplex-kubeconfig", "--publish-kubeconfig-server=https://kplex-apiserver.kplex-a.svc:443",
				"--dns-address=0.0.0.0:1053", "--tenant-dns-ip=10.96.0.53", "--pod-security=restricted",
				"--network-gate-image=kplexd:default"},
			noArgs: []string{"--datastore-endpoint", "--sync-qps", "--allow-node-ports", "--allow-load-balancers", "--allow-ingresses"},
		},
		{
			name: "image, resources, sync and storage from the spec",
			vc: vc("b", func(s *v1alpha1.VirtualClusterSpec) {
				s.ControlPlane.Image = "example/kplexd:v2"
				s.ControlPlane.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
				s.Sync.QPS, s.Sync.Burst = 7, 9
				s.Isolation.PodSecurity = v1alpha1.PodSecurityBaseline
				s.Isolation.AllowNodePorts, s.Isolation.AllowLoadBalancers, s.Isolation.AllowIngresses = true, true, true
				s.Datastore.Embedded = &v1alpha1.EmbeddedDatastore{Size: ptr.To(resource.MustParse("5Gi")), StorageClassName: ptr.To("fast")}
			}),
			wantImage: "example/kplexd:v2", wantSize: "5Gi", wantClass: ptr.To("fast"), wantMemory: "1Gi",
			wantArgs: []string{"--sync-qps=7", "--sync-burst=9", "--pod-security=baseline", "--allow-node-ports", "--allow-load-balancers", "--allow-ingresses",
				"--network-gate-image=example/kplexd:v2"},
		},
		{
			name: "external datastore",
			vc: vc("c", func(s *v1alpha1.VirtualClusterSpec) {
				s.Datastore = v1alpha1.Datastore{Type: v1alpha1.DatastoreExternal,
					External: &v1alpha1.ExternalDatastore{SecretRef: v1alpha1.SecretKeyRef{Name: "pg"}}}
			}),
			wantImage: "kplexd:default", wantSize: pkiVolumeSize, wantMemory: "320Mi", wantEnv: "KPLEX_DATASTORE_ENDPOINT",
			wantArgs: []string{"--datastore-endpoint=$(KPLEX_DATASTORE_ENDPOINT)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sts := StatefulSet(tc.vc, ip, "10.96.0.53", ControlPlaneDefaults{Image: "kplexd:default"})
			if sts.Namespace != "kplex-"+tc.vc.Name || *sts.Spec.Replicas != 1 {
				t.Fatalf("namespace %q replicas %d", sts.Namespace, *sts.Spec.Replicas)
			}
			pod := sts.Spec.Template
			c := pod.Spec.Containers[0]
			if c.Image != tc.wantImage {
				t.Errorf("image %q, want %q", c.Image, tc.wantImage)
			}
			for _, a := range tc.wantArgs {
				if !slices.Contains(c.Args, a) {
					t.Errorf("missing arg %s in %v", a, c.Args)
				}
			}
			for _, a := range tc.noArgs {
				if slices.ContainsFunc(c.Args, func(s string) bool { return strings.HasPrefix(s, a) }) {
					t.Errorf("unexpected arg %s in %v", a, c.Args)
				}
			}
			pvc := sts.Spec.VolumeClaimTemplates[0].Spec
			if got := pvc.Resources.Requests[corev1.ResourceStorage]; got.String() != tc.wantSize {
				t.Errorf("volume size %s, want %s", got.String(), tc.wantSize)
			}
			if !ptr.Equal(pvc.StorageClassName, tc.wantClass) {
				t.Errorf("storage class %v, want %v", pvc.StorageClassName, tc.wantClass)
			}
			if got := c.Resources.Requests[corev1.ResourceMemory]; got.String() != tc.wantMemory {
				t.Errorf("memory request %s, want %s", got.String(), tc.wantMemory)
			}
			if tc.wantEnv != "" && !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == tc.wantEnv && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == install.DatastoreSecret
			}) {
				t.Errorf("no env %s from Secret %s: %v", tc.wantEnv, install.DatastoreSecret, c.Env)
			}
			// The DSN is a secret: it must never be written into the StatefulSet.
			for _, a := range c.Args {
				if strings.Contains(a, "://") && !strings.HasPrefix(a, "--publish-kubeconfig-server=https://") {
					t.Errorf("URL in args: %s", a)
				}
			}
			if v, err := podsecurity.RestrictedViolations(&pod.ObjectMeta, &pod.Spec); err != nil || len(v) > 0 {
				t.Errorf("not Pod Security restricted: %v %v", v, err)
			}
			if !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.RunAsUser != 65532 {
				t.Error("control plane must run as 65532 with a read-only root filesystem")
			}
			if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
				t.Errorf("readiness probe %+v", c.ReadinessProbe.HTTPGet)
			}
			mounts := map[string]bool{}
			for _, m := range c.VolumeMounts {
				mounts[m.MountPath] = true
			}
			if !mounts[dataDir] || !mounts["/tmp"] {
				t.Errorf("mounts %v: want the data dir and /tmp", c.VolumeMounts)
			}
		})
	}
}

// TestTenantCannotJoinTheAPIService: the Service selects on a label key that the syncer
// never copies from a tenant's pod (tenant keys move under kplex's domain), so no tenant
// pod can receive the API server's traffic.
func TestTenantCannotJoinTheAPIService(t *testing.T) {
	v := vc("a", nil)
	svc := Service(v)
	tr, err := translate.New(translate.Tenant{Name: "a", HostNamespace: "kplex-a"})
	if err != nil {
		t.Fatal(err)
	}
	host := tr.HostLabels("default", svc.Spec.Selector)
	matches := true
	for k, val := range svc.Spec.Selector {
		if host[k] != val {
			matches = false
		}
	}
	if matches {
		t.Fatalf("a tenant pod labelled %v gets host labels %v, which the Service selector %v matches", svc.Spec.Selector, host, svc.Spec.Selector)
	}
}

func TestNamespaceAndRBAC(t *testing.T) {
	for _, level := range []v1alpha1.PodSecurityLevel{"", v1alpha1.PodSecurityRestricted, v1alpha1.PodSecurityBaseline} {
		v := vc("a", func(s *v1alpha1.VirtualClusterSpec) { s.Isolation.PodSecurity = level })
		ns := Namespace(v)
		want := string(level)
		if want == "" {
			want = "restricted"
		}
		if ns.Name != "kplex-a" || ns.Labels["pod-security.kubernetes.io/enforce"] != want || ns.Labels[LabelTenant] != "a" {
			t.Errorf("level %q: namespace %s labels %v", level, ns.Name, ns.Labels)
		}
	}
	v := vc("a", nil)
	if rb := RoleBinding(v); rb.RoleRef.Kind != "ClusterRole" || rb.RoleRef.Name != install.SyncerInTenant || rb.Namespace != "kplex-a" {
		t.Errorf("role binding %+v", rb)
	}
	crb := ClusterRoleBinding(v)
	if crb.RoleRef.Name != install.SyncerCluster || crb.Subjects[0].Namespace != "kplex-a" || crb.Subjects[0].Name != ControlPlaneName {
		t.Errorf("cluster role binding %+v", crb)
	}
	if sa := ServiceAccount(v); *sa.AutomountServiceAccountToken {
		t.Error("the service account mounts its token into every pod; only the control plane should")
	}
	for _, tc := range []struct {
		expose v1alpha1.ExposeType
		want   corev1.ServiceType
	}{{"", corev1.ServiceTypeClusterIP}, {v1alpha1.ExposeNodePort, corev1.ServiceTypeNodePort}, {v1alpha1.ExposeLoadBalancer, corev1.ServiceTypeLoadBalancer}} {
		v := vc("a", func(s *v1alpha1.VirtualClusterSpec) { s.Expose.Type = tc.expose })
		svc := Service(v)
		if svc.Spec.Type != tc.want || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.IntVal != securePort {
			t.Errorf("expose %q: service %+v", tc.expose, svc.Spec)
		}
		// The tenant's DNS is for its pods only: never exposed outside the host cluster.
		if dns := DNSService(v); dns.Spec.Type != corev1.ServiceTypeClusterIP || len(dns.Spec.Ports) != 2 {
			t.Errorf("expose %q: DNS service %+v", tc.expose, dns.Spec)
		}
	}
}

// The network gate runs from the control plane's image; the operator may name its probe or
// turn it off.
func TestStatefulSetNetworkGate(t *testing.T) {
	for _, tc := range []struct {
		probe      string
		want, none []string
	}{
		{probe: "", want: []string{"--network-gate-image=kplexd:default"}, none: []string{"--network-gate-probe"}},
		{probe: "10.0.0.1:6443", want: []string{"--network-gate-image=kplexd:default", "--network-gate-probe=10.0.0.1:6443"}},
		{probe: NetworkGateOff, none: []string{"--network-gate-image", "--network-gate-probe"}},
	} {
		args := StatefulSet(vc("a", nil), "10.96.0.42", "10.96.0.53", ControlPlaneDefaults{Image: "kplexd:default", NetworkGateProbe: tc.probe}).Spec.Template.Spec.Containers[0].Args
		for _, a := range tc.want {
			if !slices.Contains(args, a) {
				t.Errorf("probe %q: missing %s in %v", tc.probe, a, args)
			}
		}
		for _, a := range tc.none {
			if slices.ContainsFunc(args, func(s string) bool { return strings.HasPrefix(s, a) }) {
				t.Errorf("probe %q: unexpected %s in %v", tc.probe, a, args)
			}
		}
	}
}

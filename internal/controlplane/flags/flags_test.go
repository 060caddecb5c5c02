package flags

import (
	"slices"
	"strings"
	"testing"

	"github.com/kplex-dev/kplex/internal/controlplane/args"
	"github.com/kplex-dev/kplex/internal/controlplane/pki"
)

func value(argv []string, key string) (string, bool) {
	for _, a := range argv {
		if v, ok := strings.CutPrefix(a, "--"+key+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestAPIServerProfiles(t *testing.T) {
	b := &pki.Bundle{Dir: "/pki"}
	base := APIServerConfig{BindAddress: "127.0.0.1", SecurePort: 6443, ServiceCIDR: "10.96.0.0/16", EtcdServers: []string{"unix:///k.sock"}, PKI: b}
	virt := APIServer(base)
	host := base
	host.HostProfile, host.AdvertiseAddress = true, "10.213.0.2"
	hostArgs := APIServer(host)

	tests := []struct {
		argv      []string
		key, want string
	}{
		{virt, "authorization-mode", "RBAC"},
		{hostArgs, "authorization-mode", "Node,RBAC"},
		{virt, "endpoint-reconciler-type", "none"},
		{virt, "enable-aggregator-routing", "true"},
		{hostArgs, "enable-aggregator-routing", "false"},
		{hostArgs, "advertise-address", "10.213.0.2"},
		{virt, "etcd-servers", "unix:///k.sock"},
		{virt, "client-ca-file", "/pki/ca.crt"},
		{virt, "service-account-signing-key-file", "/pki/sa.key"},
		{virt, "requestheader-client-ca-file", "/pki/front-proxy-ca.crt"},
	}
	for _, tt := range tests {
		if got, _ := value(tt.argv, tt.key); got != tt.want {
			t.Errorf("--%s = %q, want %q", tt.key, got, tt.want)
		}
	}
	if v, _ := value(virt, "runtime-config"); strings.Contains(v, "resource.k8s.io") {
		t.Errorf("virtual runtime-config %q: the resource-quota controller needs the DRA API", v)
	}
	if _, ok := value(hostArgs, "runtime-config"); ok {
		t.Error("host profile must serve every default API")
	}
	if _, ok := value(hostArgs, "endpoint-reconciler-type"); ok {
		t.Error("host profile with an advertise address must keep the endpoint reconciler")
	}
	if v, _ := value(virt, "enable-admission-plugins"); strings.Contains(v, "NodeRestriction") {
		t.Error("virtual profile has no kubelets to restrict")
	}
	if v, _ := value(virt, "kubelet-certificate-authority"); v == "" {
		t.Error("virtual profile must verify its kubelet (kplexd's kubelet proxy)")
	}
	if _, ok := value(hostArgs, "kubelet-certificate-authority"); ok {
		t.Error("host profile kubelets serve self-signed certificates")
	}
	tenant := base
	tenant.AdmissionPlugins = []string{"KplexTenantPolicy"}
	if v, _ := value(APIServer(tenant), "enable-admission-plugins"); !strings.HasSuffix(v, ",ValidatingAdmissionWebhook,KplexTenantPolicy") {
		t.Errorf("enable-admission-plugins %q: want the compiled-in plugin after the upstream ones", v)
	}
	if v, _ := value(virt, "advertise-address"); v == "127.0.0.1" || v == "" {
		t.Errorf("virtual advertise address %q: loopback is refused by kube-apiserver", v)
	}
}

func TestUserOverridesWin(t *testing.T) {
	cfg := APIServerConfig{BindAddress: "127.0.0.1", SecurePort: 6443, ServiceCIDR: "10.96.0.0/16", PKI: &pki.Bundle{Dir: "/p"},
		ExtraArgs: []args.Arg{{Key: "authorization-mode", Value: "AlwaysAllow"}, {Key: "audit-log-maxage", Value: "3"}}}
	argv := APIServer(cfg)
	if v, _ := value(argv, "authorization-mode"); v != "AlwaysAllow" {
		t.Errorf("override lost: %q", v)
	}
	if v, _ := value(argv, "audit-log-maxage"); v != "3" {
		t.Errorf("new flag lost: %q", v)
	}
	n := 0
	for _, a := range argv {
		if strings.HasPrefix(a, "--authorization-mode=") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("authorization-mode given %d times", n)
	}
}

func TestControllerProfiles(t *testing.T) {
	b := &pki.Bundle{Dir: "/p"}
	virt := ControllerManager(ControllerManagerConfig{PKI: b, ServiceCIDR: "10.96.0.0/16"})
	host := ControllerManager(ControllerManagerConfig{PKI: b, ServiceCIDR: "10.96.0.0/16", HostProfile: true, ClusterCIDR: "10.244.0.0/16"})
	v, _ := value(virt, "controllers")
	list := strings.Split(v, ",")
	for _, must := range []string{"namespace-controller", "garbage-collector-controller", "serviceaccount-token-controller", "deployment-controller",
		"replicaset-controller", "statefulset-controller", "daemonset-controller", "job-controller", "cronjob-controller",
		"endpoints-controller", "endpointslice-controller", "resourcequota-controller", "disruption-controller", "ttl-after-finished-controller"} {
		if !slices.Contains(list, must) {
			t.Errorf("virtual profile lacks %s", must)
		}
	}
	for _, never := range []string{"node-lifecycle-controller", "node-ipam-controller", "pod-garbage-collector-controller", "*"} {
		if slices.Contains(list, never) {
			t.Errorf("virtual profile runs %s", never)
		}
	}
	if v, _ := value(host, "controllers"); v != "*" {
		t.Errorf("host controllers %q, want *", v)
	}
	if v, _ := value(host, "cluster-cidr"); v != "10.244.0.0/16" {
		t.Errorf("host cluster-cidr %q", v)
	}
	if _, ok := value(virt, "allocate-node-cidrs"); ok {
		t.Error("virtual profile allocates node CIDRs")
	}
}

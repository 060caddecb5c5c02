package node

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	utilfeature "k8s.io/apiserver/pkg/util/feature"
	kubeletconfigvalidation "k8s.io/kubernetes/pkg/kubelet/apis/config/validation"
)

// TestConfigLoadsAndValidates runs the written KubeletConfiguration through
// the upstream loader (defaulting, conversion) and validation.
func TestConfigLoadsAndValidates(t *testing.T) {
	dir := t.TempDir()
	c := Config{
		NodeName: "n", NodeIP: "10.213.0.2", Kubeconfig: filepath.Join(dir, "kubelet.kubeconfig"),
		ClientCAFile: filepath.Join(dir, "ca.crt"), RuntimeEndpoint: "unix://" + filepath.Join(dir, "c.sock"),
		RootDir: filepath.Join(dir, "root"), CertDir: filepath.Join(dir, "pki"),
		ConfigFile: filepath.Join(dir, "kubelet.yaml"), PodLogsDir: filepath.Join(dir, "logs"),
		CgroupRoot: "/kplex-devhost", ResolvConf: filepath.Join(dir, "resolv.conf"), ClusterDomain: "cluster.local",
	}
	if err := c.WriteConfigFile([]string{"10.213.53.53"}); err != nil {
		t.Fatal(err)
	}
	kc, err := loadConfig(context.Background(), c.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := kubeletconfigvalidation.ValidateKubeletConfiguration(kc, utilfeature.DefaultFeatureGate); err != nil {
		t.Fatalf("upstream validation: %v", err)
	}
	if kc.CgroupRoot != "/kplex-devhost" || kc.CgroupDriver != "cgroupfs" || kc.FailCgroupV1 {
		t.Errorf("cgroup settings lost: root %q driver %q failCgroupV1 %v", kc.CgroupRoot, kc.CgroupDriver, kc.FailCgroupV1)
	}
	if kc.ReadOnlyPort != 0 || kc.Authentication.Anonymous.Enabled {
		t.Error("kubelet is open to anonymous users")
	}
	resolv, _ := os.ReadFile(c.ResolvConf)
	if string(resolv) != "nameserver 10.213.53.53\n" {
		t.Errorf("resolv.conf = %q", resolv)
	}
}

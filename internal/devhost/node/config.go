// Package node runs the devhost's kubelet in this process, from the upstream
// kubelet code, against the devhost's containerd.
package node

import (
	"fmt"
	"os"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// Config is what the kubelet of the devhost needs.
type Config struct {
	NodeName        string
	NodeIP          string
	Kubeconfig      string // client credentials (system:node:<name>)
	ClientCAFile    string // CA that signs API server -> kubelet client certificates
	RuntimeEndpoint string // containerd's CRI endpoint, unix://...
	RootDir         string // --root-dir: pod volumes and plugin state
	CertDir         string // self-signed serving certificate
	ConfigFile      string // where the KubeletConfiguration is written
	PodLogsDir      string
	CgroupRoot      string // every pod goes below this cgroup
	ResolvConf      string // resolv.conf for pods with dnsPolicy Default
	ClusterDomain   string
	ClusterDNS      []string
}

// kubeletConfiguration is the KubeletConfiguration of the devhost. The settings
// that differ from upstream's defaults, and why:
//   - cgroupfs driver, failCgroupV1 false: containerd 1.6 reports no driver and the
//     machine runs cgroup v1; failSwapOn false: the machine may have swap.
//   - cgroupRoot: pods live below one cgroup that `down` can empty and remove.
//   - eviction and image GC thresholds out of the way: a development machine's disk
//     is often fuller than a server's, and evicting the only copy of a locally built
//     image would break pods (there is no registry to pull it back from).
//   - resolvConf: pods never see the machine's nameservers, only the stand-in.
func (c Config) kubeletConfiguration() *kubeletv1beta1.KubeletConfiguration {
	return &kubeletv1beta1.KubeletConfiguration{
		TypeMeta:     metav1.TypeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"},
		Address:      c.NodeIP,
		ReadOnlyPort: 0,
		Authentication: kubeletv1beta1.KubeletAuthentication{
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: c.ClientCAFile},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
		},
		Authorization:               kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		CgroupDriver:                "cgroupfs",
		CgroupRoot:                  c.CgroupRoot,
		FailCgroupV1:                ptr.To(false),
		FailSwapOn:                  ptr.To(false),
		ContainerRuntimeEndpoint:    c.RuntimeEndpoint,
		ClusterDomain:               c.ClusterDomain,
		ClusterDNS:                  c.ClusterDNS,
		ResolverConfig:              ptr.To(c.ResolvConf),
		PodLogsDir:                  c.PodLogsDir,
		EvictionHard:                map[string]string{"memory.available": "50Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%", "imagefs.available": "1%"},
		ImageGCHighThresholdPercent: ptr.To[int32](100),
		ImageGCLowThresholdPercent:  ptr.To[int32](99),
		SerializeImagePulls:         ptr.To(false),
		RotateCertificates:          false,
		ServerTLSBootstrap:          false,
		ProtectKernelDefaults:       false,
		MaxPods:                     110,
		KubeAPIQPS:                  ptr.To[int32](50),
		KubeAPIBurst:                100,
		HealthzBindAddress:          "127.0.0.1",
		// The kubelet shares its process with the control plane: leave the OOM score alone.
		OOMScoreAdj: ptr.To[int32](0),
	}
}

// WriteConfigFile writes the KubeletConfiguration to c.ConfigFile and the
// resolv.conf that pods get.
func (c Config) WriteConfigFile(nameservers []string) error {
	if c.NodeName == "" || c.NodeIP == "" || c.Kubeconfig == "" || c.RuntimeEndpoint == "" || c.RootDir == "" {
		return fmt.Errorf("kubelet config: node name, node IP, kubeconfig, runtime endpoint and root dir are required")
	}
	b, err := yaml.Marshal(c.kubeletConfiguration())
	if err != nil {
		return err
	}
	for _, dir := range []string{filepath.Dir(c.ConfigFile), c.RootDir, c.CertDir, c.PodLogsDir, filepath.Dir(c.ResolvConf)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(c.ConfigFile, b, 0o600); err != nil {
		return err
	}
	var resolv []byte
	for _, ns := range nameservers {
		resolv = append(resolv, "nameserver "+ns+"\n"...)
	}
	return os.WriteFile(c.ResolvConf, resolv, 0o644)
}

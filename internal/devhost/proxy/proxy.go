// Package proxy runs the devhost's kube-proxy, in nftables mode, in this
// process from the upstream kube-proxy code.
package proxy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	componentbaseconfigv1alpha1 "k8s.io/component-base/config/v1alpha1"
	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	"k8s.io/kubernetes/cmd/kube-proxy/app"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// Config is what kube-proxy of the devhost needs.
type Config struct {
	NodeName    string
	NodeIP      string
	ClusterCIDR string
	Kubeconfig  string // client credentials (system:kube-proxy)
	ConfigFile  string // where the KubeProxyConfiguration is written
}

// configuration is the KubeProxyConfiguration of the devhost. Settings that
// differ from upstream's defaults, and why:
//   - nftables mode: IPVS is missing from this kind of kernel and iptables mode is legacy.
//   - conntrack limits left alone: nf_conntrack_max is a machine-wide setting that a
//     network namespace may not change.
//   - oomScoreAdj 0: kube-proxy shares its process with the control plane.
//   - health and metrics on loopback of the namespace.
func (c Config) configuration() *kubeproxyv1alpha1.KubeProxyConfiguration {
	return &kubeproxyv1alpha1.KubeProxyConfiguration{
		TypeMeta:           metav1.TypeMeta{APIVersion: "kubeproxy.config.k8s.io/v1alpha1", Kind: "KubeProxyConfiguration"},
		ClientConnection:   componentbaseconfigv1alpha1.ClientConnectionConfiguration{Kubeconfig: c.Kubeconfig, QPS: 50, Burst: 100},
		HostnameOverride:   c.NodeName,
		BindAddress:        c.NodeIP,
		HealthzBindAddress: "127.0.0.1:10256",
		MetricsBindAddress: "127.0.0.1:10249",
		Mode:               "nftables",
		ClusterCIDR:        c.ClusterCIDR,
		DetectLocalMode:    "ClusterCIDR",
		NodePortAddresses:  []string{"primary"},
		OOMScoreAdj:        ptr.To[int32](0),
		Conntrack: kubeproxyv1alpha1.KubeProxyConntrackConfiguration{
			MaxPerCore:            ptr.To[int32](0),
			Min:                   ptr.To[int32](0),
			TCPEstablishedTimeout: &metav1.Duration{},
			TCPCloseWaitTimeout:   &metav1.Duration{},
		},
	}
}

// WriteConfigFile writes the KubeProxyConfiguration to c.ConfigFile.
func (c Config) WriteConfigFile() error {
	if c.NodeName == "" || c.NodeIP == "" || c.Kubeconfig == "" || c.ClusterCIDR == "" {
		return fmt.Errorf("kube-proxy config: node name, node IP, kubeconfig and cluster CIDR are required")
	}
	b, err := yaml.Marshal(c.configuration())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.ConfigFile), 0o700); err != nil {
		return err
	}
	return os.WriteFile(c.ConfigFile, b, 0o600)
}

// Run runs kube-proxy from c.ConfigFile until it fails; upstream kube-proxy
// does not return when ctx ends, so the daemon stops it by exiting.
func Run(ctx context.Context, c Config) error {
	opts := app.NewOptions()
	fs := pflag.NewFlagSet("kube-proxy", pflag.ContinueOnError)
	opts.AddFlags(fs)
	if err := fs.Parse([]string{"--config=" + c.ConfigFile}); err != nil {
		return fmt.Errorf("kube-proxy flags: %w", err)
	}
	if err := opts.Complete(fs); err != nil {
		return fmt.Errorf("kube-proxy config: %w", err)
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("kube-proxy config: %w", err)
	}
	return opts.Run(ctx)
}

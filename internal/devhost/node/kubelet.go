package node

import (
	"context"
	"fmt"

	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/kubernetes/cmd/kubelet/app"
	"k8s.io/kubernetes/cmd/kubelet/app/options"
	kubeletconfiginternal "k8s.io/kubernetes/pkg/kubelet/apis/config"
	kubeletconfigvalidation "k8s.io/kubernetes/pkg/kubelet/apis/config/validation"
	"k8s.io/kubernetes/pkg/kubelet/kubeletconfig/configfiles"
	utilfs "k8s.io/kubernetes/pkg/util/filesystem"
)

// RunKubelet runs the kubelet until ctx ends or it fails. It does what the
// kubelet command does, minus flag parsing, logging set-up and the process-wide
// signal handler, which belong to the daemon that embeds it.
func RunKubelet(ctx context.Context, c Config) error {
	kc, err := loadConfig(ctx, c.ConfigFile)
	if err != nil {
		return err
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(kc.FeatureGates); err != nil {
		return fmt.Errorf("kubelet feature gates: %w", err)
	}
	if err := kubeletconfigvalidation.ValidateKubeletConfiguration(kc, utilfeature.DefaultFeatureGate); err != nil {
		return fmt.Errorf("kubelet configuration %s: %w", c.ConfigFile, err)
	}
	flags := options.NewKubeletFlags()
	flags.KubeConfig = c.Kubeconfig
	flags.HostnameOverride = c.NodeName
	flags.NodeIP = c.NodeIP
	flags.CertDirectory = c.CertDir
	flags.RootDirectory = c.RootDir
	flags.KubeletConfigFile = c.ConfigFile
	if err := options.ValidateKubeletFlags(flags); err != nil {
		return fmt.Errorf("kubelet flags: %w", err)
	}
	server := &options.KubeletServer{KubeletFlags: *flags, KubeletConfiguration: *kc}
	deps, err := app.UnsecuredDependencies(ctx, server, utilfeature.DefaultFeatureGate)
	if err != nil {
		return fmt.Errorf("kubelet dependencies: %w", err)
	}
	return app.Run(ctx, server, deps, utilfeature.DefaultFeatureGate)
}

// loadConfig reads the KubeletConfiguration file with upstream defaulting and conversion.
func loadConfig(ctx context.Context, path string) (*kubeletconfiginternal.KubeletConfiguration, error) {
	loader, err := configfiles.NewFsLoader(&utilfs.DefaultFs{}, path)
	if err != nil {
		return nil, fmt.Errorf("load kubelet config %s: %w", path, err)
	}
	kc, err := loader.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load kubelet config %s: %w", path, err)
	}
	return kc, nil
}

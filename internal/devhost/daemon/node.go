package daemon

import (
	"context"
	"fmt"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kplex-dev/kplex/internal/controlplane/kubeconfig"
	"github.com/kplex-dev/kplex/internal/controlplane/pki"
	"github.com/kplex-dev/kplex/internal/devhost/cni"
	"github.com/kplex-dev/kplex/internal/devhost/identity"
	"github.com/kplex-dev/kplex/internal/devhost/image"
	"github.com/kplex-dev/kplex/internal/devhost/layout"
	"github.com/kplex-dev/kplex/internal/devhost/node"
	"github.com/kplex-dev/kplex/internal/devhost/proxy"
)

func pauseRef() string { return image.PauseRef }

// writeMachineKubeconfig writes the cluster-admin kubeconfig for the machine,
// which reaches the API server through the veth pair.
func (d *daemon) writeMachineKubeconfig() error {
	b := d.cp.PKI()
	cert, key := b.Client(pki.ClientAdmin)
	return kubeconfig.Write(d.l.Kubeconfig(), kubeconfig.Options{
		Server: layout.APIServerURL, CAFile: b.CACert(), CertFile: cert, KeyFile: key,
		ClusterName: "kplex-devhost", UserName: "admin", Embed: true,
	})
}

// startNode runs the kubelet and kube-proxy and configures the pod network
// once the node has its pod CIDR.
func (d *daemon) startNode(ctx context.Context) error {
	issuer := identity.NewIssuer(d.cp.PKI(), d.l.NodeDir(), layout.APIServerURL)
	kubeletKubeconfig, err := issuer.Kubeconfig(identity.Identity{
		Name: "kubelet", CN: "system:node:" + layout.NodeName, Groups: []string{"system:nodes"},
	})
	if err != nil {
		return err
	}
	proxyKubeconfig, err := issuer.Kubeconfig(identity.Identity{Name: "kube-proxy", CN: "system:kube-proxy"})
	if err != nil {
		return err
	}
	kc := node.Config{
		NodeName:        layout.NodeName,
		NodeIP:          layout.NodeIP,
		Kubeconfig:      kubeletKubeconfig,
		ClientCAFile:    d.cp.PKI().CACert(),
		RuntimeEndpoint: d.runtime.Endpoint(),
		RootDir:         d.l.KubeletRoot(),
		CertDir:         filepath.Join(d.l.NodeDir(), "kubelet-pki"),
		ConfigFile:      filepath.Join(d.l.NodeDir(), "kubelet.yaml"),
		PodLogsDir:      d.l.PodLogDir(),
		CgroupRoot:      layout.CgroupRoot,
		ResolvConf:      d.l.ResolvConf(),
		ClusterDomain:   "cluster.local",
	}
	if err := kc.WriteConfigFile([]string{layout.UpstreamDNSIP}); err != nil {
		return fmt.Errorf("kubelet config: %w", err)
	}
	pc := proxy.Config{
		NodeName: layout.NodeName, NodeIP: layout.NodeIP, ClusterCIDR: layout.ClusterCIDR,
		Kubeconfig: proxyKubeconfig, ConfigFile: filepath.Join(d.l.NodeDir(), "kube-proxy.yaml"),
	}
	if err := pc.WriteConfigFile(); err != nil {
		return fmt.Errorf("kube-proxy config: %w", err)
	}

	nodeCtx, stop := context.WithCancel(ctx)
	d.stopNode = stop
	go func() {
		err := node.RunKubelet(nodeCtx, kc)
		if nodeCtx.Err() == nil {
			d.failures <- fmt.Errorf("kubelet stopped: %w", err)
		}
	}()
	if _, err := d.waitNode(ctx, d.client, layout.NodeName, "registered", registered); err != nil {
		return err
	}
	d.step(StepNode, layout.NodeName)
	go func() {
		err := proxy.Run(nodeCtx, pc)
		if nodeCtx.Err() == nil {
			d.failures <- fmt.Errorf("kube-proxy stopped: %w", err)
		}
	}()
	d.claimPodCIDR(ctx)
	n, err := d.waitNode(ctx, d.client, layout.NodeName, "given a pod CIDR", hasPodCIDR)
	if err != nil {
		return err
	}
	if err := (cni.Config{PodCIDR: n.Spec.PodCIDR, IPAMDir: d.l.CNIIPAMDir()}).Write(d.l.CNIConfDir()); err != nil {
		return fmt.Errorf("write CNI config: %w", err)
	}
	d.step(StepPodNetwork, n.Spec.PodCIDR)
	return nil
}

// claimPodCIDR gives the only node its pod CIDR right after registration,
// instead of waiting seconds for the node IPAM controller's first pass; the
// controller then records the CIDR as taken. Should the controller have been
// first, its choice stands.
func (d *daemon) claimPodCIDR(ctx context.Context) {
	patch := fmt.Sprintf(`{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, layout.NodePodCIDR, layout.NodePodCIDR)
	_, err := d.client.CoreV1().Nodes().Patch(ctx, layout.NodeName, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		d.log.Info("Pod CIDR left to the node IPAM controller", "reason", err.Error())
	}
}

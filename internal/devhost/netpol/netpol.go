// Package netpol enforces NetworkPolicy on the devhost with kube-router's
// network policy controller, used as a library: it programs iptables and
// ipset, both of which work on kernels without nfqueue or IPVS.
package netpol

import (
	"context"
	"fmt"
	"sync"

	"github.com/cloudnativelabs/kube-router/v2/pkg/controllers/netpol"
	"github.com/cloudnativelabs/kube-router/v2/pkg/healthcheck"
	"github.com/cloudnativelabs/kube-router/v2/pkg/options"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
)

// Config is what the controller needs to know about the cluster.
type Config struct {
	NodeName      string // the node whose pods are protected; it must exist with an InternalIP
	ServiceCIDR   string
	NodePortRange string // "30000-32767"
}

// Run starts the controller and returns once it runs; it stops when ctx ends.
func Run(ctx context.Context, client kubernetes.Interface, c Config) error {
	kr := options.NewKubeRouterConfig()
	kr.ClusterIPCIDRs = []string{c.ServiceCIDR}
	kr.EnableIPv4 = true
	kr.EnableIPv6 = false
	kr.NodePortRange = c.NodePortRange
	kr.HostnameOverride = c.NodeName
	kr.RunFirewall = true
	kr.RunRouter = false
	kr.RunServiceProxy = false
	kr.MetricsEnabled = false

	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods().Informer()
	namespaces := factory.Core().V1().Namespaces().Informer()
	policies := factory.Networking().V1().NetworkPolicies().Informer()
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("network policy controller: %v cache did not sync", typ)
		}
	}

	iptables, ipsets, err := netpol.NewIPTablesHandlers(kr)
	if err != nil {
		return fmt.Errorf("network policy controller: %w", err)
	}
	npc, err := netpol.NewNetworkPolicyController(client, kr, pods, policies, namespaces, &sync.Mutex{}, iptables, ipsets)
	if err != nil {
		return fmt.Errorf("network policy controller: %w", err)
	}
	if _, err := pods.AddEventHandler(npc.PodEventHandler); err != nil {
		return err
	}
	if _, err := namespaces.AddEventHandler(npc.NamespaceEventHandler); err != nil {
		return err
	}
	if _, err := policies.AddEventHandler(npc.NetworkPolicyEventHandler); err != nil {
		return err
	}

	// The controller reports heartbeats on this channel and blocks until they
	// are read; nothing here needs them.
	heartbeats := make(chan *healthcheck.ControllerHeartbeat)
	go func() {
		for {
			select {
			case <-heartbeats:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go npc.Run(heartbeats, ctx.Done(), &wg)
	return nil
}

package daemon

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplex-dev/kplex/internal/devhost/layout"
	"github.com/kplex-dev/kplex/internal/devhost/netpol"
	"github.com/kplex-dev/kplex/internal/devhost/standin"
	"github.com/kplex-dev/kplex/internal/devhost/storage"
)

// startStandins serves the stand-in metadata endpoint and upstream DNS server.
func (d *daemon) startStandins(ctx context.Context) error {
	log := d.log.WithName("standin")
	if err := standin.ServeMetadata(ctx, layout.MetadataIP, log); err != nil {
		return err
	}
	records := standin.DNSRecords(layout.UpstreamDNSIP, layout.MetadataIP, layout.NodeIP)
	return standin.ServeDNS(ctx, layout.UpstreamDNSIP, records, log)
}

// startAddons runs network policy enforcement and the volume provisioner,
// then waits for the node to be Ready.
func (d *daemon) startAddons(ctx context.Context) error {
	err := netpol.Run(ctx, d.client, netpol.Config{
		NodeName: layout.NodeName, ServiceCIDR: layout.ServiceCIDR, NodePortRange: "30000-32767",
	})
	if err != nil {
		return err
	}
	go func() {
		err := storage.Run(ctx, d.client, storage.NewLocalPath(d.l.VolumeDir(), layout.NodeName))
		if ctx.Err() == nil {
			d.failures <- fmt.Errorf("volume provisioner stopped: %w", err)
		}
	}()
	d.step(StepAddons, "kube-router network policy, "+storage.StorageClassName+" StorageClass")
	if _, err := d.waitNode(ctx, d.client, layout.NodeName, "Ready", nodeReady); err != nil {
		return err
	}
	d.step(StepNodeReady, "")
	return d.waitDefaultServiceAccount(ctx)
}

// waitDefaultServiceAccount waits until pods can be created in the default
// namespace: the service account controller makes its account a few seconds
// after start, and "ready" should mean a first pod is accepted.
func (d *daemon) waitDefaultServiceAccount(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		_, err := d.client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the default service account: %w", ctx.Err())
		case err := <-d.failures:
			return err
		case <-t.C:
		}
	}
}

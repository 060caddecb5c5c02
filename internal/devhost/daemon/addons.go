package daemon

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	return d.ensureDefaultServiceAccount(ctx)
}

// ensureDefaultServiceAccount makes sure pods can be created in the default
// namespace when `up` returns. The service account controller would create
// the account too, but only seconds after the controller manager starts;
// it leaves an existing one alone.
func (d *daemon) ensureDefaultServiceAccount(ctx context.Context) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		_, err := d.client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Create(ctx, sa, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create the default service account: %w (last error: %v)", ctx.Err(), err)
		case err := <-d.failures:
			return err
		case <-t.C:
		}
	}
}

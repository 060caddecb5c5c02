package containerd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	criclient "k8s.io/cri-client/pkg"
)

// RemoveAllPods stops and removes every pod sandbox through the CRI, so that
// containerd tears down each pod's network (CNI DEL), mounts and shim before
// it stops. The kubelet must already be stopped, or it recreates them.
func (r *Runtime) RemoveAllPods(ctx context.Context) (int, error) {
	rs, err := criclient.NewRemoteRuntimeService(ctx, r.Endpoint(), 10*time.Second, noop.NewTracerProvider(), false)
	if err != nil {
		return 0, fmt.Errorf("connect to CRI: %w", err)
	}
	sandboxes, err := rs.ListPodSandbox(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("list pod sandboxes: %w", err)
	}
	errs := make([]error, len(sandboxes))
	var wg sync.WaitGroup
	for i, sb := range sandboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rs.StopPodSandbox(ctx, sb.Id); err != nil {
				errs[i] = fmt.Errorf("stop pod %s/%s: %w", sb.Metadata.Namespace, sb.Metadata.Name, err)
				return
			}
			if err := rs.RemovePodSandbox(ctx, sb.Id); err != nil {
				errs[i] = fmt.Errorf("remove pod %s/%s: %w", sb.Metadata.Namespace, sb.Metadata.Name, err)
			}
		}()
	}
	wg.Wait()
	return len(sandboxes), errors.Join(errs...)
}

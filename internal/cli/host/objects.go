package host

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
)

// VirtualCluster reads one VirtualCluster; a missing one is an error that
// says how to find the existing ones.
func (h *Host) VirtualCluster(ctx context.Context, name string) (*v1alpha1.VirtualCluster, error) {
	vc := &v1alpha1.VirtualCluster{}
	if err := h.Client.Get(ctx, client.ObjectKey{Name: name}, vc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, NoSuchCluster(name, h)
		}
		return nil, h.Explain(err)
	}
	return vc, nil
}

// NoSuchCluster is the error for a virtual cluster that does not exist.
func NoSuchCluster(name string, h *Host) error {
	return fmt.Errorf("no virtual cluster %q on host %s: kplex list shows the existing ones; kplex create %s makes it", name, h.Server(), name)
}

// Operator describes the operator Deployment `kplex install` made: whether
// it runs, and if not, why (in words a person can act on).
type Operator struct {
	Installed bool
	Available bool
	Image     string
	// Problem is why it is not available, e.g. a pod's waiting reason.
	Problem string
}

func (o Operator) String() string {
	switch {
	case !o.Installed:
		return "not installed (run kplex install)"
	case o.Available:
		return "running, image " + o.Image
	}
	return fmt.Sprintf("not available (%s), image %s", o.Problem, o.Image)
}

// Operator reads the operator Deployment and, when it is not available,
// its pods' waiting reasons.
func (h *Host) Operator(ctx context.Context) (Operator, error) {
	d := &appsv1.Deployment{}
	err := h.Client.Get(ctx, client.ObjectKey{Namespace: install.Namespace, Name: install.OperatorName}, d)
	if apierrors.IsNotFound(err) {
		return Operator{}, nil
	}
	if err != nil {
		return Operator{}, h.Explain(err)
	}
	op := Operator{Installed: true, Available: d.Status.AvailableReplicas > 0}
	if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
		op.Image = cs[0].Image
	}
	if op.Available {
		return op, nil
	}
	op.Problem = "no pod yet"
	pods := &corev1.PodList{}
	if err := h.Client.List(ctx, pods, client.InNamespace(install.Namespace), client.MatchingLabels(d.Spec.Selector.MatchLabels)); err != nil {
		return op, h.Explain(err)
	}
	for _, p := range pods.Items {
		op.Problem = "pod " + p.Name + " " + PodState(&p)
	}
	return op, nil
}

// PodState is a pod's phase, or the reason a container waits or failed, as
// kubectl's STATUS column shows it.
func PodState(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return t.Reason
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return "Unschedulable: " + firstLine(c.Message)
		}
	}
	return string(p.Status.Phase)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// State is a one-line summary of a VirtualCluster's status for progress
// lines: its phase, and the reason of every condition that is not True.
func State(vc *v1alpha1.VirtualCluster) string {
	phase := string(vc.Status.Phase)
	if phase == "" {
		phase = "Pending (not yet seen by the operator)"
	}
	var waiting []string
	for _, c := range vc.Status.Conditions {
		if c.Status != "True" {
			waiting = append(waiting, c.Type+"="+c.Reason)
		}
	}
	if len(waiting) == 0 {
		return phase
	}
	return phase + ": " + strings.Join(waiting, ", ")
}

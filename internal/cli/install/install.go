// Package install is `kplex install`: it server-side applies the CRD, the
// kplex-system namespace, the operator's RBAC and Deployment (package
// internal/install builds them), then waits until the API is served and the
// operator runs. Applying again changes nothing, or only what differs.
package install

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/internal/cli/host"
	"github.com/kplex-dev/kplex/internal/cli/output"
	"github.com/kplex-dev/kplex/internal/cli/poll"
	kinstall "github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/operator"
)

// FieldManager owns, on the host, every field kplex install applies.
const FieldManager = "kplex"

// Options are the flags of kplex install.
type Options struct {
	Image   string
	Wait    bool
	Timeout time.Duration
	// Where the host's ingress controllers run (the operator's flags of the same names).
	IngressControllerNamespaces []string
	IngressControllerSelector   string
	NetworkGateProbe            string
}

// NewCommand returns `kplex install`.
func NewCommand(h *host.Options, s output.Streams) *cobra.Command {
	o := Options{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install (or update) the VirtualCluster API and the kplex operator on the host",
		Long: `Applies the VirtualCluster CRD, namespace kplex-system, the operator's RBAC and its
Deployment with server-side apply (field manager "kplex"), then waits until the CRD is
established and the operator is available. Running it again is safe: it changes only
what differs, e.g. the image. Needs cluster-admin rights on the host.`,
		Args: cobra.NoArgs,
		RunE: h.RunE(s.Log, func(ctx context.Context, hc *host.Host, _ []string) error {
			return Run(ctx, hc, s, o)
		}),
	}
	cmd.Flags().StringVar(&o.Image, "image", kinstall.DefaultImage, "kplexd image for the operator and the control planes (the default is the image kplex-devhost loads)")
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "wait until the operator is available")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 3*time.Minute, "how long to wait")
	cmd.Flags().StringSliceVar(&o.IngressControllerNamespaces, operator.IngressNamespaceFlag, nil, operator.IngressNamespaceHelp)
	cmd.Flags().StringVar(&o.IngressControllerSelector, operator.IngressSelectorFlag, "", operator.IngressSelectorHelp)
	cmd.Flags().StringVar(&o.NetworkGateProbe, operator.NetworkGateFlag, "", operator.NetworkGateHelp)
	return cmd
}

// Run applies the objects and waits.
func Run(ctx context.Context, h *host.Host, s output.Streams, o Options) error {
	// The operator checks its flags when it starts; checked here too, a mistake is said at once.
	if _, err := operator.NewIngressControllers(o.IngressControllerNamespaces, o.IngressControllerSelector); err != nil {
		return err
	}
	if err := operator.ValidNetworkGateProbe(o.NetworkGateProbe); err != nil {
		return err
	}
	objs, err := kinstall.Objects(kinstall.Options{Image: o.Image,
		IngressControllerNamespaces: o.IngressControllerNamespaces, IngressControllerSelector: o.IngressControllerSelector, NetworkGateProbe: o.NetworkGateProbe})
	if err != nil {
		return err
	}
	p := output.NewProgress(s.ErrOut)
	p.Step("installing kplex on %s (context %s), image %s", h.Server(), h.Context, o.Image)
	for _, obj := range objs {
		if err := apply(ctx, h, obj); err != nil {
			return err
		}
		p.Step("applied %s", describe(obj))
	}
	crdName := objs[0].GetName()
	p.Step("waiting for the VirtualCluster API")
	if err := waitEstablished(ctx, h, crdName, o.Timeout); err != nil {
		return err
	}
	p.Step("VirtualCluster API served (CRD %s established)", crdName)
	if !o.Wait {
		p.Step("done; not waiting for the operator (--wait=false)")
		return nil
	}
	if err := waitOperator(ctx, h, p, o.Timeout); err != nil {
		return err
	}
	p.Step("kplex installed: kplex create NAME --wait makes a virtual cluster")
	return nil
}

// apply server-side applies one object, owning every field it sets.
func apply(ctx context.Context, h *host.Host, obj client.Object) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("convert %s: %w", describe(obj), err)
	}
	u := &unstructured.Unstructured{Object: m}
	// Zero values the converter writes are not what install asks for: without
	// them apply owns (and would fight over) only the fields that matter.
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	err = h.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership)
	if err != nil {
		return fmt.Errorf("apply %s: %w", describe(obj), h.Explain(err))
	}
	return nil
}

func describe(obj client.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if ns := obj.GetNamespace(); ns != "" {
		return kind + " " + ns + "/" + obj.GetName()
	}
	return kind + " " + obj.GetName()
}

// waitEstablished waits until the API server serves the CRD.
func waitEstablished(ctx context.Context, h *host.Host, name string, timeout time.Duration) error {
	var last string
	err := poll.Until(ctx, 200*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := h.Client.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			return false, h.Explain(err)
		}
		for _, c := range crd.Status.Conditions {
			switch {
			case c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue:
				return true, nil
			case c.Type == apiextensionsv1.NamesAccepted && c.Status == apiextensionsv1.ConditionFalse:
				return false, fmt.Errorf("CRD %s refused by the host: %s", name, c.Message)
			}
		}
		last = fmt.Sprint(crd.Status.Conditions)
		return false, nil
	})
	if errors.Is(err, poll.ErrTimeout) {
		return fmt.Errorf("CRD %s not established in time (conditions %s): check the host API server's log", name, last)
	}
	return err
}

// imageProblem says whether a pod's state is an image problem that will not
// fix itself.
func imageProblem(state string) bool {
	for _, reason := range []string{"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"} {
		if strings.Contains(state, reason) {
			return true
		}
	}
	return false
}

// waitOperator waits until the operator Deployment is available, printing
// its state as it changes; an image the host cannot get ends the wait.
func waitOperator(ctx context.Context, h *host.Host, p *output.Progress, timeout time.Duration) error {
	var op host.Operator
	err := poll.Until(ctx, 500*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		var err error
		if op, err = h.Operator(ctx); err != nil {
			return false, err
		}
		p.Update("operator " + kinstall.Namespace + "/" + kinstall.OperatorName + ": " + op.String())
		if imageProblem(op.Problem) {
			return false, fmt.Errorf("the host cannot start the operator: image %s: %s: load or push that image, or pass another with --image (on a devhost, make build then kplex-devhost up loads %s)", op.Image, op.Problem, kinstall.DefaultImage)
		}
		return op.Available, nil
	})
	if errors.Is(err, poll.ErrTimeout) {
		return fmt.Errorf("operator %s/%s not available after %s (%s, image %s): kubectl -n %s describe pods shows why", kinstall.Namespace, kinstall.OperatorName, timeout, op.Problem, op.Image, kinstall.Namespace)
	}
	return err
}

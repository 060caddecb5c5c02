package testenv

import (
	"context"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kplex-dev/kplex/api/v1alpha1"
	"github.com/kplex-dev/kplex/internal/install"
	"github.com/kplex-dev/kplex/internal/ssa"
)

// InstallKplex applies every object of `kplex install` to the host and waits until the
// VirtualCluster CRD is served. It returns an admin client that knows kplex's types.
func InstallKplex(ctx context.Context, t testing.TB, cfg *rest.Config, opts install.Options) client.Client {
	t.Helper()
	objs, err := install.Objects(opts)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := ssa.Apply(ctx, c, o, "kplex-test"); err != nil {
			t.Fatalf("install: %v", err)
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		crd := &apiextv1.CustomResourceDefinition{}
		if err := c.Get(ctx, types.NamespacedName{Name: objs[0].GetName()}, crd); err != nil {
			return false, err
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("VirtualCluster CRD not established: %v", err)
	}
	return c
}

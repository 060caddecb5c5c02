// Package hostwatch is what every resource syncer needs from the host side: events on a
// host copy become a request for its virtual original, so a changed or deleted copy is
// put back; and log lines name the virtual object being reconciled.
package hostwatch

import (
	"context"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kplex-dev/kplex/internal/translate"
)

// Copies watches objects of obj's kind in the host cache and enqueues the virtual object
// each one records. Host objects that do not record one of this tenant's objects are ignored.
func Copies[T client.Object](host cluster.Cluster, obj T, tr *translate.Translator) source.Source {
	return source.Kind(host.GetCache(), obj, handler.TypedEnqueueRequestsFromMapFunc(ToVirtual[T](tr)))
}

// ToVirtual maps a host copy to a request for its virtual original.
func ToVirtual[T client.Object](tr *translate.Translator) handler.TypedMapFunc[T, reconcile.Request] {
	return func(_ context.Context, o T) []reconcile.Request {
		ns, name, _, ok := tr.VirtualRef(o)
		if !ok {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
	}
}

// Logger names the reconciled virtual object in every log line, under key (e.g. "pod").
func Logger(log logr.Logger, key string) func(*reconcile.Request) logr.Logger {
	return func(req *reconcile.Request) logr.Logger {
		if req == nil {
			return log
		}
		return log.WithValues("namespace", req.Namespace, key, req.Name)
	}
}

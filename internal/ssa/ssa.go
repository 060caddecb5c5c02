// Package ssa server-side applies typed objects with a controller-runtime client.
package ssa

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Apply makes the fields obj sets what the server holds, owned by owner (forcing ownership
// away from other managers); fields others set (a Service's cluster IP, defaults) stay, and
// an unchanged object is not written. obj must carry its apiVersion and kind; it is then
// what the server holds.
func Apply(ctx context.Context, c client.Client, obj client.Object, owner string) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("convert %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	// Zero values the converter writes are not asked for: without them the owner holds
	// only the fields that matter.
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	u := &unstructured.Unstructured{Object: m}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(owner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(obj), err)
	}
	// The server's answer: its generation and status are newer than any cache's copy.
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return fmt.Errorf("read the applied %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

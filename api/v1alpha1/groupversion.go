// Package v1alpha1 is the kplex.dev/v1alpha1 API: VirtualCluster, a tenant's virtual
// cluster as the host cluster's administrator declares it.
//
// The package depends on k8s.io/api and k8s.io/apimachinery only, so that the kplex CLI can
// use it without linking Kubernetes itself.
//
// +kubebuilder:object:generate=true
// +groupName=kplex.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of the types in this package.
var GroupVersion = schema.GroupVersion{Group: "kplex.dev", Version: "v1alpha1"}

// AddToScheme registers VirtualCluster and VirtualClusterList in a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &VirtualCluster{}, &VirtualClusterList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

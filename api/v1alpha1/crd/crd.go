// Package crd holds the generated CustomResourceDefinition of kplex.dev/v1alpha1
// (make generate writes it) for `kplex install` and the tests.
package crd

import (
	_ "embed"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

//go:embed kplex.dev_virtualclusters.yaml
var virtualClustersYAML []byte

// VirtualClustersYAML is the VirtualCluster CRD as generated.
func VirtualClustersYAML() []byte { return append([]byte(nil), virtualClustersYAML...) }

// VirtualClusters is the VirtualCluster CRD, decoded.
func VirtualClusters() (*apiextensionsv1.CustomResourceDefinition, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(virtualClustersYAML, crd); err != nil {
		return nil, fmt.Errorf("decode embedded VirtualCluster CRD: %w", err)
	}
	return crd, nil
}

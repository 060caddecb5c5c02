//go:build tools

// Package tools records dependencies used only by `make baseline` (the upstream
// binaries the benchmark compares against), so that `go mod tidy` keeps them.
package tools

import (
	_ "github.com/k3s-io/kine/pkg/app"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

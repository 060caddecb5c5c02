# Sourced by the Makefile, .ci/run and the tests' helpers: ONE set of build flags, so that
# every build and test shares the Go build cache (changing tags or CGO recompiles Kubernetes).
export CGO_ENABLED=0
export GOFLAGS="-trimpath -tags=selinux,notest,grpcnotrace"
KPLEX_K8S_VERSION=v1.37.2
export KPLEX_LDFLAGS="-s -w \
 -X k8s.io/component-base/version.gitVersion=${KPLEX_K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 \
 -X k8s.io/client-go/pkg/version.gitVersion=${KPLEX_K8S_VERSION} -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37"

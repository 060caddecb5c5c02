package crd

// controllerGen is the generator `make generate` and the staleness test run.
const controllerGen = "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0"

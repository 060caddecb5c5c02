#!/bin/bash
# The whole test suite, as CI runs it: installs what the tests need (root), starts the
# external datastores on loopback, builds the binaries, runs unit, integration and
# end-to-end tests. Usage: make test   (same as: hack/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/build-env.sh

if [ "$(id -u)" = 0 ]; then
	hack/install-deps.sh
else
	echo "test: not root: PostgreSQL and end-to-end tests need root (sudo make test); running what can run" >&2
fi

make build
go build -o bin/kplex-test-etcd ./test/tools/etcd

STATE=${KPLEX_TEST_STATE:-/tmp/kplex-test}
mkdir -p "$STATE"
# What this script starts, it stops on exit.
CLEANUP=""
trap 'eval "$CLEANUP"' EXIT
if [ -z "${KPLEX_TEST_POSTGRES:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	KPLEX_TEST_POSTGRES=$(hack/start-postgres.sh "$STATE/postgres" 55432)
	export KPLEX_TEST_POSTGRES
	CLEANUP="$CLEANUP hack/stop-postgres.sh '$STATE/postgres';"
fi
if [ -z "${KPLEX_TEST_ETCD:-}" ]; then
	rm -rf "$STATE/etcd"
	bin/kplex-test-etcd --data-dir "$STATE/etcd" --port 52379 >"$STATE/etcd.out" 2>"$STATE/etcd.log" &
	CLEANUP="$CLEANUP kill $! 2>/dev/null || true;"
	for _ in $(seq 100); do grep -q http "$STATE/etcd.out" && break; sleep 0.2; done
	KPLEX_TEST_ETCD=$(head -1 "$STATE/etcd.out")
	export KPLEX_TEST_ETCD
fi
echo "test: datastores: sqlite${KPLEX_TEST_POSTGRES:+, postgres}${KPLEX_TEST_ETCD:+, etcd}"

export KPLEX_BIN=$PWD/bin
go vet ./...
go test -count=1 -p 1 -timeout 60m ./... "$@"

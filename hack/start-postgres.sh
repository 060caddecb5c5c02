#!/bin/sh
# Starts a private PostgreSQL server for the datastore tests: its own data directory,
# listening on loopback only, owned by the postgres system user (initdb refuses root).
# Prints the DSN to use as KPLEX_TEST_POSTGRES. Idempotent: an already running server
# from an earlier call is reused. Usage: hack/start-postgres.sh [DIR] [PORT]
set -eu
DIR=${1:-/tmp/kplex-postgres}
PORT=${2:-55432}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$BIN" ]; then
	echo "start-postgres: PostgreSQL server not installed: run hack/install-deps.sh" >&2
	exit 1
fi
RUNAS="runuser -u postgres --"
[ "$(id -u)" = 0 ] || RUNAS=""
if [ ! -f "$DIR/PG_VERSION" ]; then
	mkdir -p "$DIR"
	[ -z "$RUNAS" ] || chown postgres "$DIR"
	echo kplex >"$DIR.pw"
	[ -z "$RUNAS" ] || chown postgres "$DIR.pw"
	$RUNAS "$BIN/initdb" -D "$DIR" -U kplex --pwfile="$DIR.pw" -A scram-sha-256 >/dev/null
fi
if ! $RUNAS "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
	$RUNAS "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -o "-c listen_addresses=127.0.0.1 -p $PORT -k /tmp -c max_connections=300 -c fsync=on" start >/dev/null
fi
echo "postgres://kplex:kplex@127.0.0.1:$PORT/kplex?sslmode=disable"

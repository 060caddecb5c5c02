#!/bin/sh
# Stops the private PostgreSQL server hack/start-postgres.sh started in DIR.
# Usage: hack/stop-postgres.sh [DIR]
set -eu
DIR=${1:-/tmp/kplex-postgres}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] && [ -f "$DIR/PG_VERSION" ] || exit 0
RUNAS="runuser -u postgres --"
[ "$(id -u)" = 0 ] || RUNAS=""
if $RUNAS "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
	$RUNAS "$BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null
fi

#!/usr/bin/env bash
# Stop the local PostgreSQL ("fast": disconnect clients, clean shutdown).
# Does nothing if it is not running or was never created.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

AREA="$(pg_area_existing)" || true
PG_BIN="$(pg_bin_dir)" || true
if [[ -z "$AREA" || -z "$PG_BIN" || ! -f "$AREA/data/PG_VERSION" ]] \
    || ! as_pg "$PG_BIN/pg_ctl" status -D "$AREA/data" >/dev/null 2>&1; then
    log "not running"
    exit 0
fi

log "stopping"
as_pg "$PG_BIN/pg_ctl" stop -D "$AREA/data" -m fast -w -t 60 >/dev/null
log "stopped"

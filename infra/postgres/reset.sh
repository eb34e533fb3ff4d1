#!/usr/bin/env bash
# Stop PostgreSQL and delete the cluster (all databases); the next start
# creates a fresh one.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$INFRA_DIR/postgres/stop.sh"
AREA="$(pg_area_existing)" || true
if [[ -n "$AREA" ]]; then
    rm -rf "$AREA"
fi
rm -rf "$PG_LINK"   # the symlink, when the cluster lived in /var/tmp
rm -f "$STACK_ENV"  # a new stack, a new password and mark
log "data removed"

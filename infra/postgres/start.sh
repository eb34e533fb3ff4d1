#!/usr/bin/env bash
# Start the local PostgreSQL on 127.0.0.1:$CAREPLAN_PG_PORT (default 55432),
# creating the cluster on the first run, then make sure the `careplan` role and
# the service databases exist. Safe to run when it is already running.
#
# The role's password and the stack's mark are random, generated once per
# stack into .local/stack.env (never in the repository): another checkout's
# demo or tests cannot log in here, and drop databases only on a server that
# carries their own mark.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

READY_TIMEOUT="${PG_READY_TIMEOUT:-60}"   # seconds
started=$SECONDS

"$INFRA_DIR/postgres/install.sh"
PG_BIN="$(pg_bin_dir)"
AREA="$(pg_area_create)"
DATA="$AREA/data"
RUN="$AREA/run"
LOGFILE="$AREA/postgres.log"
if [[ "$AREA" != "$PG_LINK" ]]; then
    log "cluster lives in $AREA (linked from .local/pg)"
fi

# As the cluster owner, through the private unix socket: used for set-up
# before the careplan role exists.
psql_admin() {
    as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$PG_PORT" -U postgres -d postgres "$@"
}

if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "creating cluster ($("$PG_BIN/postgres" --version))"
    # Local socket: trust, because only the owner can open the socket
    # directory (unix_socket_permissions = 0700 below). TCP: password only.
    if ! out="$(as_pg "$PG_BIN/initdb" -D "$DATA" --username=postgres \
            --auth-local=trust --auth-host=scram-sha-256 \
            --encoding=UTF8 --locale=C 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "initdb failed"
    fi
    # Settings are kept in careplan.conf, rewritten on every start below, so
    # this script stays the single place to change them.
    echo "include_if_exists = 'careplan.conf'" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
fi

as_pg mkdir -p "$RUN"
as_pg tee "$DATA/careplan.conf" >/dev/null <<CONF
# Written by infra/postgres/start.sh on every start; edit that script instead.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$RUN'
unix_socket_permissions = 0700
# Four services with connection pools plus the test suite.
max_connections = 200
# Batches of two topics touching the same cases can lock rows in opposite orders; the loser
# is retried, and finding it after 100 ms instead of the default second keeps latency down.
deadlock_timeout = 100ms
CONF

if as_pg "$PG_BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; then
    log "already running"
    as_pg "$PG_BIN/pg_ctl" reload -D "$DATA" >/dev/null
else
    if port_open "$PG_PORT"; then
        die "port $PG_PORT is already in use by another process (see: ss -ltnp 'sport = :$PG_PORT')"
    fi
    log "starting server on 127.0.0.1:$PG_PORT"
    # -w waits until the server accepts connections (or fails/times out).
    if ! as_pg "$PG_BIN/pg_ctl" start -D "$DATA" -l "$LOGFILE" -w -t "$READY_TIMEOUT" >/dev/null; then
        show_log_tail "$LOGFILE" 40
        die "PostgreSQL did not start"
    fi
fi

# Readiness as the services see it: a query over TCP with the password.
# Before the role exists (first start) the set-up below must run first,
# so poll through the admin socket, then check TCP.
deadline=$((SECONDS + READY_TIMEOUT))
until psql_admin -Atc 'SELECT 1' >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
        show_log_tail "$LOGFILE" 40
        die "PostgreSQL not answering after ${READY_TIMEOUT}s"
    fi
    sleep 0.5
done

# Role and databases; idempotent. Fed on stdin because the postgres user
# may not be able to read files inside the repository.
psql_admin <"$INFRA_DIR/postgres/init-databases.sql" >/dev/null

if [[ ! -s "$STACK_ENV" ]]; then
    (umask 077 && printf 'CAREPLAN_PG_PASSWORD=%s\nCAREPLAN_STACK_MARK=%s\n' \
        "$(random_secret)" "$(random_secret)" >"$STACK_ENV")
fi
PG_PASSWORD="$(sed -n 's/^CAREPLAN_PG_PASSWORD=//p' "$STACK_ENV")"
stack_mark="$(sed -n 's/^CAREPLAN_STACK_MARK=//p' "$STACK_ENV")"
# On stdin, not in psql's arguments, which any local user can list.
psql_admin >/dev/null <<SQL
ALTER ROLE careplan PASSWORD '$PG_PASSWORD';
COMMENT ON DATABASE postgres IS 'careplan stack $stack_mark';
SQL

PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -X -q -Atc 'SELECT 1' \
    "host=127.0.0.1 port=$PG_PORT user=$PG_USER dbname=postgres" >/dev/null \
    || die "cannot log in as $PG_USER over TCP"
log "ready on 127.0.0.1:$PG_PORT ($((SECONDS - started))s)"

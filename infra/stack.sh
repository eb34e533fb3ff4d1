#!/usr/bin/env bash
# The local stack the services and tests run against: PostgreSQL and Kafka
# as plain processes on 127.0.0.1 (no Docker), state under .local/.
#
#   infra/stack.sh up       start both (first run downloads and creates them)
#   infra/stack.sh down     stop both; data is kept
#   infra/stack.sh reset    stop both and delete their data
#   infra/stack.sh status   print what is up; exit 0 only if both are up
#
# CAREPLAN_KAFKA_BROKERS=3 makes Kafka a three-node cluster with TLS (infra/kafka/cluster.sh);
# CAREPLAN_KAFKA_TLS=1 turns TLS on for the single node.
#
# Connection settings: shared/settings.py derives them from the same port variables
# and from .local/stack.env (written at creation).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=stack

kafka_up() {
    if ((KAFKA_BROKERS > 1)); then "$INFRA_DIR/kafka/cluster.sh" status >/dev/null; return; fi
    pid_matches "$(cat "$LOCAL_DIR/kafka/kafka.pid" 2>/dev/null || true)" 'kafka\.Kafka' \
        && port_open "$KAFKA_PORT"
}

postgres_up() {
    # postmaster.pid's first line is the server's pid.
    local pidfile="$LOCAL_DIR/pg/data/postmaster.pid"
    [[ -r "$pidfile" ]] && pid_matches "$(head -n 1 "$pidfile")" postgres \
        && port_open "$PG_PORT"
}

case "${1:-}" in
    up)
        started=$SECONDS
        # PostgreSQL first: it is ready in about a second, Kafka takes longer.
        "$INFRA_DIR/postgres/start.sh"
        "$INFRA_DIR/kafka/start.sh"
        log "up in $((SECONDS - started))s: postgres 127.0.0.1:$PG_PORT, kafka $(kafka_bootstrap) ($KAFKA_CLIENT_PROTOCOL)"
        ;;
    down)
        "$INFRA_DIR/kafka/stop.sh"
        "$INFRA_DIR/postgres/stop.sh"
        ;;
    reset)
        "$INFRA_DIR/kafka/reset.sh"
        "$INFRA_DIR/postgres/reset.sh"
        ;;
    status)
        rc=0
        if postgres_up; then log "postgres: up   127.0.0.1:$PG_PORT"; else log "postgres: down"; rc=1; fi
        if kafka_up; then log "kafka:    up   $(kafka_bootstrap) ($KAFKA_CLIENT_PROTOCOL)"; else log "kafka:    down"; rc=1; fi
        exit "$rc"
        ;;
    *)
        echo "usage: $0 up|down|reset|status" >&2
        exit 2
        ;;
esac

#!/usr/bin/env bash
# Stop the local Kafka started by start.sh: SIGTERM for a clean shutdown
# (flushes logs, so the next start needs no recovery), SIGKILL after 30 s.
# Does nothing if it is not running.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LOG_TAG=kafka
if ((KAFKA_BROKERS > 1)); then exec "$INFRA_DIR/kafka/cluster.sh" down; fi

PID_FILE="$KAFKA_HOME/kafka.pid"
GRACE_SECONDS=30

pid="$(cat "$PID_FILE" 2>/dev/null || true)"
if ! pid_matches "$pid" 'kafka\.Kafka'; then
    rm -f "$PID_FILE"
    log "not running"
    exit 0
fi

log "stopping (pid $pid)"
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + GRACE_SECONDS))
while pid_matches "$pid" 'kafka\.Kafka'; do
    if ((SECONDS >= deadline)); then
        log "still running after ${GRACE_SECONDS}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        break
    fi
    sleep 0.2
done
rm -f "$PID_FILE"
log "stopped"

#!/usr/bin/env bash
# Start the local single-node Kafka (KRaft) on 127.0.0.1:19092 and wait until
# it answers a real metadata request. Safe to run when it is already running.
#
# Writes only under .local/kafka: libs/ (jars), data/ (topics), logs/,
# server.properties (rendered config), cluster.id, kafka.pid, and the generated
# SASL credentials (credentials.env, admin.properties: never in the repository).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LOG_TAG=kafka
# The cluster mode has its own script; this one is the single node.
if ((KAFKA_BROKERS > 1)); then exec "$INFRA_DIR/kafka/cluster.sh" up; fi

KAFKA_DIR="$KAFKA_HOME"
LIBS_DIR="$KAFKA_DIR/libs"
DATA_DIR="$KAFKA_DIR/data"
LOG_DIR="$KAFKA_DIR/logs"
CONFIG="$KAFKA_DIR/server.properties"
PID_FILE="$KAFKA_DIR/kafka.pid"
CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
CREDENTIALS="$KAFKA_DIR/credentials.env"
ADMIN_CONFIG="$KAFKA_DIR/admin.properties"
READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-90}"   # seconds
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
CLASSPATH_GLOB="$LIBS_DIR/*"   # expanded by java itself, not by the shell

started=$SECONDS

# Short-lived JVMs (format, probe) start faster with the C1 compiler only.
run_cli() {
    "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Dlog4j2.level=ERROR -cp "$CLASSPATH_GLOB" "$@"
}

# Readiness = the broker serves a metadata request (list topics), not merely
# an open port: the port opens before the controller has elected itself.
broker_ready() {
    port_open "$KAFKA_PORT" || return 1
    timeout 30 "$JAVA" -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Dlog4j2.level=ERROR -cp "$CLASSPATH_GLOB" \
        org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
        --command-config "$ADMIN_CONFIG" \
        --list >/dev/null 2>&1
}

running_pid() {
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    pid_matches "$pid" 'kafka\.Kafka' && echo "$pid"
}

if pid="$(running_pid)"; then
    log "already running (pid $pid)"
else
    # Something else (an older broker without our pid file?) holds the port:
    # starting a second broker would only fail later with a bind error.
    if port_open "$KAFKA_PORT"; then
        die "port $KAFKA_PORT is already in use by another process (see: ss -ltnp 'sport = :$KAFKA_PORT')"
    fi

    "$INFRA_DIR/kafka/fetch.sh"
    mkdir -p "$DATA_DIR" "$LOG_DIR"

    # The broker's own SCRAM credential is written into the storage when it is formatted:
    # storage formatted before credentials existed cannot authenticate, so it starts over.
    if [[ ! -s "$CREDENTIALS" ]]; then
        if [[ -f "$DATA_DIR/meta.properties" ]]; then
            log "storage predates SASL credentials: formatting it again"
            rm -rf "$DATA_DIR" && mkdir -p "$DATA_DIR"
        fi
        umask 077
        printf 'CAREPLAN_KAFKA_ADMIN_PASSWORD=%s\n' \
            "$(head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')" >"$CREDENTIALS"
        umask 022
    fi
    # The controller listener's own credential (server.properties); stacks created before it
    # existed get theirs here.
    if ! grep -q '^CAREPLAN_KAFKA_CONTROLLER_PASSWORD=' "$CREDENTIALS"; then
        (umask 077 && printf 'CAREPLAN_KAFKA_CONTROLLER_PASSWORD=%s\n' "$(random_secret)" >>"$CREDENTIALS")
    fi
    admin_password="$(kafka_credential CAREPLAN_KAFKA_ADMIN_PASSWORD)"
    controller_password="$(kafka_credential CAREPLAN_KAFKA_CONTROLLER_PASSWORD)"
    if [[ "$KAFKA_TLS" == 1 ]]; then "$INFRA_DIR/kafka/tls.sh"; fi
    write_admin_config

    # Render the config: the data dir must be absolute because the broker's
    # working directory is not the repository.
    sed -e "s|@KAFKA_DATA_DIR@|$DATA_DIR|g" -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@KAFKA_ADMIN_PASSWORD@|$admin_password|g" \
        -e "s|@KAFKA_CONTROLLER_PASSWORD@|$controller_password|g" \
        -e "s|@CLIENT_PROTOCOL@|$KAFKA_CLIENT_PROTOCOL|g" \
        "$INFRA_DIR/kafka/server.properties" >"$CONFIG"
    # TLS on the single node (CAREPLAN_KAFKA_TLS=1): the client listener's key and certificate.
    if [[ "$KAFKA_TLS" == 1 ]]; then
        cat >>"$CONFIG" <<PROPERTIES
ssl.keystore.type=PKCS12
ssl.keystore.location=$KAFKA_TLS_DIR/node-1.p12
ssl.keystore.password=$(cat "$KAFKA_TLS_DIR/password")
ssl.truststore.type=PKCS12
ssl.truststore.location=$KAFKA_TLS_DIR/truststore.p12
ssl.truststore.password=$(cat "$KAFKA_TLS_DIR/password")
PROPERTIES
    fi
    chmod 600 "$CONFIG"

    # KRaft storage must be formatted once with a cluster id. It is generated
    # locally (16 random bytes, URL-safe base64 as Kafka expects) and kept so
    # the same id is reused if the data dir is ever re-formatted.
    if [[ ! -f "$DATA_DIR/meta.properties" ]]; then
        if [[ ! -s "$CLUSTER_ID_FILE" ]]; then
            head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$CLUSTER_ID_FILE"
        fi
        log "formatting storage (cluster id $(cat "$CLUSTER_ID_FILE"))"
        # --cluster-id=ID, not -t ID: a random id may start with "-", which reads as an option.
        if ! out="$(run_cli kafka.tools.StorageTool format \
                --cluster-id="$(cat "$CLUSTER_ID_FILE")" -c "$CONFIG" \
                --add-scram "SCRAM-SHA-512=[name=admin,password=$admin_password]" 2>&1)"; then
            printf '%s\n' "$out" >&2
            die "formatting Kafka storage failed"
        fi
    fi

    log "starting broker on 127.0.0.1:$KAFKA_PORT"
    # setsid + nohup: the broker is detached from the caller, so a Ctrl-C in the
    # calling terminal or the end of the calling make/CI step does not kill it. It
    # inherits no other descriptor either: a lock its caller holds ends with the caller.
    setsid nohup "$JAVA" -Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true \
        -Dkafka.logs.dir="$LOG_DIR" \
        -Dlog4j2.configurationFile="$INFRA_DIR/kafka/log4j2.yaml" \
        -cp "$CLASSPATH_GLOB" kafka.Kafka "$CONFIG" \
        >>"$LOG_DIR/stdout.log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
fi

deadline=$((SECONDS + READY_TIMEOUT))
until broker_ready; do
    if ! pid_alive "$pid"; then
        show_log_tail "$LOG_DIR/stdout.log" 20
        show_log_tail "$LOG_DIR/server.log" 40
        die "broker process $pid exited during startup"
    fi
    if ((SECONDS >= deadline)); then
        show_log_tail "$LOG_DIR/server.log" 40
        die "broker not ready after ${READY_TIMEOUT}s (pid $pid still running; infra/kafka/stop.sh to stop it)"
    fi
    sleep 1
done
log "ready on 127.0.0.1:$KAFKA_PORT (pid $pid, $((SECONDS - started))s)"
"$INFRA_DIR/kafka/provision.sh"

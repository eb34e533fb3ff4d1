#!/usr/bin/env bash
# The local three-node Kafka cluster (CAREPLAN_KAFKA_BROKERS=3): combined KRaft nodes on
# loopback from the same jars as the single node, SASL_SSL on the client listeners,
# replication factor 3 and min.insync.replicas=2 (infra/kafka/cluster.properties).
#
#   cluster.sh up        start every node that is not running, then wait until every node is
#                        registered and every partition has its full ISR (safe to run again:
#                        after a node was killed, this is how it comes back)
#   cluster.sh down      stop every node (SIGTERM, SIGKILL after 30 s)
#   cluster.sh reset     stop and delete the cluster's storage, credentials and certificates
#   cluster.sh status    exit 0 only if every node is running
#   cluster.sh pid <i>   the pid of node i, if it runs
#   cluster.sh controller  the id of the active KRaft controller (the quorum's leader)
#   cluster.sh elect     move every partition's leadership back to its preferred replica
#
# Node i: client port KAFKA_PORT+10*i, controller port the one above, state in
# .local/kafka-cluster/node-<i>/.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LOG_TAG=kafka-cluster

READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-300}"   # seconds: a node catching up on a busy machine
GRACE_SECONDS=30
# Each node's heap: three of them, PostgreSQL, the services and the tests fit a 2-core 24 GB
# machine with room to spare (docs/architecture.md, Production topology).
NODE_HEAP="${CAREPLAN_KAFKA_NODE_HEAP:-512m}"
CLUSTER_ID_FILE="$KAFKA_HOME/cluster.id"

node_dir() { echo "$KAFKA_HOME/node-$1"; }
node_pid() {
    local pid
    pid="$(cat "$(node_dir "$1")/kafka.pid" 2>/dev/null || true)"
    pid_matches "$pid" 'kafka\.Kafka' && echo "$pid"
}
nodes() { seq 1 "$KAFKA_BROKERS"; }
quorum_voters() {
    local i out=()
    for i in $(nodes); do out+=("$i@127.0.0.1:$(node_controller_port "$i")"); done
    (IFS=, && echo "${out[*]}")
}

render() {
    local i="$1" dir
    dir="$(node_dir "$i")"
    mkdir -p "$dir/data" "$dir/logs"
    (
        umask 077
        sed -e "s|@NODE_ID@|$i|g" -e "s|@QUORUM_VOTERS@|$(quorum_voters)|g" \
            -e "s|@NODE_PORT@|$(node_port "$i")|g" \
            -e "s|@NODE_CONTROLLER_PORT@|$(node_controller_port "$i")|g" \
            -e "s|@CLIENT_PROTOCOL@|$KAFKA_CLIENT_PROTOCOL|g" \
            -e "s|@KAFKA_DATA_DIR@|$dir/data|g" -e "s|@TLS_DIR@|$KAFKA_TLS_DIR|g" \
            -e "s|@TLS_PASSWORD@|$(cat "$KAFKA_TLS_DIR/password")|g" \
            -e "s|@KAFKA_ADMIN_PASSWORD@|$(kafka_credential CAREPLAN_KAFKA_ADMIN_PASSWORD)|g" \
            -e "s|@KAFKA_CONTROLLER_PASSWORD@|$(kafka_credential CAREPLAN_KAFKA_CONTROLLER_PASSWORD)|g" \
            "$INFRA_DIR/kafka/cluster.properties" >"$dir/server.properties"
    )
    if [[ ! -f "$dir/data/meta.properties" ]]; then
        if ! out="$(kafka_tool kafka.tools.StorageTool format \
                --cluster-id="$(cat "$CLUSTER_ID_FILE")" -c "$dir/server.properties" \
                --add-scram "SCRAM-SHA-512=[name=admin,password=$(kafka_credential CAREPLAN_KAFKA_ADMIN_PASSWORD)]" 2>&1)"; then
            printf '%s\n' "$out" >&2
            die "formatting node $i's storage failed"
        fi
    fi
}

start_node() {
    local i="$1" dir port
    dir="$(node_dir "$i")"
    port="$(node_port "$i")"
    if port_open "$port"; then
        die "port $port is already in use by another process (see: ss -ltnp 'sport = :$port')"
    fi
    render "$i"
    # Detached as the single node is (infra/kafka/start.sh).
    setsid nohup "$KAFKA_JAVA" "-Xms$NODE_HEAP" "-Xmx$NODE_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true -Dkafka.logs.dir="$dir/logs" \
        -Dlog4j2.configurationFile="$INFRA_DIR/kafka/log4j2.yaml" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" \
        >>"$dir/logs/stdout.log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
    echo $! >"$dir/kafka.pid"
    log "node $i starting on 127.0.0.1:$port (pid $!)"
}

# Every node registered as a broker: each answers for itself, naming all of them.
brokers_registered() {
    local listed
    listed="$(kafka_admin org.apache.kafka.tools.BrokerApiVersionsCommand 2>/dev/null)" || return 1
    (($(grep -c '(id: ' <<<"$listed") == KAFKA_BROKERS))
}

# No partition short of a replica in its ISR (nor without a leader).
isr_complete() {
    local short
    short="$(kafka_admin org.apache.kafka.tools.TopicCommand --describe \
        --under-replicated-partitions 2>/dev/null)" || return 1
    [[ -z "$short" ]] || return 1
    short="$(kafka_admin org.apache.kafka.tools.TopicCommand --describe \
        --unavailable-partitions 2>/dev/null)" || return 1
    [[ -z "$short" ]]
}

wait_for() {
    local what="$1" check="$2" deadline=$((SECONDS + READY_TIMEOUT)) i
    until "$check"; do
        for i in $(nodes); do
            if ! node_pid "$i" >/dev/null; then
                show_log_tail "$(node_dir "$i")/logs/server.log" 30
                die "node $i is not running while waiting for $what"
            fi
        done
        ((SECONDS < deadline)) || die "$what not reached after ${READY_TIMEOUT}s"
        sleep 1
    done
}

up() {
    local started=$SECONDS i
    "$INFRA_DIR/kafka/fetch.sh"
    ensure_kafka_credentials
    "$INFRA_DIR/kafka/tls.sh"
    write_admin_config
    if [[ ! -s "$CLUSTER_ID_FILE" ]]; then
        head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$CLUSTER_ID_FILE"
    fi
    for i in $(nodes); do
        if pid="$(node_pid "$i")"; then log "node $i already running (pid $pid)"; else start_node "$i"; fi
    done
    wait_for "every broker registered" brokers_registered
    "$INFRA_DIR/kafka/provision.sh"
    wait_for "every partition's full ISR" isr_complete
    log "ready: $(kafka_bootstrap) ($KAFKA_CLIENT_PROTOCOL, $((SECONDS - started))s)"
}

down() {
    local i pid pids=()
    for i in $(nodes); do
        if pid="$(node_pid "$i")"; then
            log "stopping node $i (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    local deadline=$((SECONDS + GRACE_SECONDS))
    for pid in "${pids[@]}"; do
        while pid_matches "$pid" 'kafka\.Kafka'; do
            if ((SECONDS >= deadline)); then kill -KILL "$pid" 2>/dev/null || true; break; fi
            sleep 0.2
        done
    done
    for i in $(nodes); do rm -f "$(node_dir "$i")/kafka.pid"; done
    log "stopped"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    reset)
        down
        rm -rf "$KAFKA_HOME"
        log "data removed"
        ;;
    status)
        rc=0
        for i in $(nodes); do
            if pid="$(node_pid "$i")" && port_open "$(node_port "$i")"; then
                log "node $i: up   127.0.0.1:$(node_port "$i") (pid $pid)"
            else
                log "node $i: down"
                rc=1
            fi
        done
        exit "$rc"
        ;;
    pid) node_pid "${2:?node number}" ;;
    controller)
        # Asked again while a node that just came back is still catching up.
        for _ in 1 2 3 4 5; do
            leader="$(kafka_admin org.apache.kafka.tools.MetadataQuorumCommand describe --status \
                2>/dev/null | awk '$1 == "LeaderId:" {print $2}')" || true
            [[ -n "$leader" ]] && echo "$leader" && exit 0
            sleep 2
        done
        die "no KRaft controller answered"
        ;;
    elect)
        # Partitions already led by their preferred replica are reported, not an error.
        kafka_tool org.apache.kafka.tools.LeaderElectionCommand --bootstrap-server "$(kafka_bootstrap)" \
            --admin.config "$KAFKA_ADMIN_CONFIG" --election-type PREFERRED --all-topic-partitions \
            2>&1 | grep -v 'already' || true
        ;;
    *)
        echo "usage: $0 up|down|reset|status|pid <i>|controller|elect" >&2
        exit 2
        ;;
esac

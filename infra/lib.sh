# shellcheck shell=bash
# Shared helpers for the infra/ scripts. Sourced, never executed.
#
# Every script works from the repository root, found from this file's own
# location, so they can be called from any directory (make, CI, a shell).

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INFRA_DIR/.." && pwd)"
# Everything the local stack writes lives here (git-ignored).
# shellcheck disable=SC2034
LOCAL_DIR="$REPO_ROOT/.local"

# Ports chosen away from the defaults (9092, 5432) so the local stack never
# collides with a system Kafka or PostgreSQL. CAREPLAN_KAFKA_PORT and
# CAREPLAN_PG_PORT move them, e.g. to run a second checkout's stack beside the
# first (the Kafka controller listens on the next port up).
# shellcheck disable=SC2034  # used by the scripts that source this file
KAFKA_PORT="${CAREPLAN_KAFKA_PORT:-19092}"
# shellcheck disable=SC2034
KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
# shellcheck disable=SC2034
PG_PORT="${CAREPLAN_PG_PORT:-55432}"

# The stack's Kafka mode: CAREPLAN_KAFKA_BROKERS=1 (default) is one combined KRaft node on
# KAFKA_PORT; 3 is a cluster of three combined nodes (infra/kafka/cluster.sh), node i listening
# for clients on KAFKA_PORT + 10*i and for its controller on the port above, its state under
# .local/kafka-cluster/. shared/settings.py derives the same addresses from the same variables.
KAFKA_BROKERS="${CAREPLAN_KAFKA_BROKERS:-1}"
case "$KAFKA_BROKERS" in
    1 | 3) ;;
    *) printf '[infra] ERROR: CAREPLAN_KAFKA_BROKERS must be 1 or 3, not %s\n' "$KAFKA_BROKERS" >&2; exit 2 ;;
esac
# SASL_SSL on the client listeners: on by default in the cluster, available on the single node.
if ((KAFKA_BROKERS > 1)); then KAFKA_TLS="${CAREPLAN_KAFKA_TLS:-1}"; else KAFKA_TLS="${CAREPLAN_KAFKA_TLS:-0}"; fi
[[ "$KAFKA_TLS" == 1 || "$KAFKA_TLS" == true ]] && KAFKA_TLS=1 || KAFKA_TLS=0
# Where this mode keeps its storage, credentials and certificates; the jars are shared.
# shellcheck disable=SC2034
if ((KAFKA_BROKERS > 1)); then KAFKA_HOME="$LOCAL_DIR/kafka-cluster"; else KAFKA_HOME="$LOCAL_DIR/kafka"; fi
# shellcheck disable=SC2034
KAFKA_LIBS="$LOCAL_DIR/kafka/libs"
# shellcheck disable=SC2034
KAFKA_CLIENT_PROTOCOL=$([[ "$KAFKA_TLS" == 1 ]] && echo SASL_SSL || echo SASL_PLAINTEXT)

# Node i's client and controller ports in the cluster mode.
node_port() { echo $((KAFKA_PORT + 10 * $1)); }
node_controller_port() { echo $((KAFKA_PORT + 10 * $1 + 1)); }
# The addresses a client bootstraps from, comma-separated.
kafka_bootstrap() {
    if ((KAFKA_BROKERS == 1)); then echo "127.0.0.1:$KAFKA_PORT"; return; fi
    local i out=()
    for ((i = 1; i <= KAFKA_BROKERS; i++)); do out+=("127.0.0.1:$(node_port "$i")"); done
    (IFS=, && echo "${out[*]}")
}

# Written when this checkout's stack is created: the database password and the stack's mark
# (see infra/postgres/start.sh); shared/settings.py reads it.
# shellcheck disable=SC2034
STACK_ENV="$LOCAL_DIR/stack.env"

# 18 random bytes, URL-safe base64 without padding: nothing a URL, JAAS or SQL literal parses.
random_secret() { head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

log() { printf '[%s] %s\n' "${LOG_TAG:-infra}" "$*"; }
die() { printf '[%s] ERROR: %s\n' "${LOG_TAG:-infra}" "$*" >&2; exit 1; }

# True when a TCP connect to 127.0.0.1:$1 succeeds (bash's /dev/tcp, so it
# needs no extra program). Only a cheap pre-check: real readiness is tested with
# a protocol-level request by each start script.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True when $1 is a live process whose command line contains $2; checking the
# command line guards against a stale pid file whose pid was reused.
pid_matches() {
    local pid="$1" pattern="$2"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}

# True while the process exists and is not a zombie. Unlike pid_matches it does not look at the
# command line, which right after a fork may still be the launcher's rather than the program's.
pid_alive() {
    local pid="$1"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/stat" ]] || return 1
    [[ "$(awk '{print $3}' "/proc/$pid/stat")" != Z ]]
}

# Print the last lines of a log file to stderr, for failure messages.
show_log_tail() {
    local file="$1" lines="${2:-40}"
    if [[ -s "$file" ]]; then
        printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" >&2
        printf -- '-----\n' >&2
    fi
}

# --- Kafka helpers, shared by the single node (kafka/start.sh) and the cluster (kafka/cluster.sh)

# This mode's generated secrets: SASL credentials, the admin client's settings.
# shellcheck disable=SC2034
KAFKA_CREDENTIALS="$KAFKA_HOME/credentials.env"
# shellcheck disable=SC2034
KAFKA_ADMIN_CONFIG="$KAFKA_HOME/admin.properties"
# shellcheck disable=SC2034
KAFKA_TLS_DIR="$KAFKA_HOME/tls"
KAFKA_JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# A short-lived Kafka tool (format, probe, admin command): C1 only starts faster; a minute at most.
kafka_tool() {
    timeout 60 "$KAFKA_JAVA" -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Dlog4j2.level=ERROR -cp "$KAFKA_LIBS/*" "$@"
}

# The administrator's and the controller listener's passwords, generated once per mode.
ensure_kafka_credentials() {
    mkdir -p "$KAFKA_HOME"
    local name
    for name in CAREPLAN_KAFKA_ADMIN_PASSWORD CAREPLAN_KAFKA_CONTROLLER_PASSWORD; do
        if ! grep -q "^$name=" "$KAFKA_CREDENTIALS" 2>/dev/null; then
            (umask 077 && printf '%s=%s\n' "$name" "$(random_secret)" >>"$KAFKA_CREDENTIALS")
        fi
    done
}
kafka_credential() { grep "^$1=" "$KAFKA_CREDENTIALS" | cut -d= -f2-; }

# Admin client settings: the readiness probes and provision.sh. Short timeouts, so that the
# probe loop, not the client, decides how long to wait; three times longer over TLS, whose
# handshakes a cold JVM on a busy 2-core machine can take seconds over.
write_admin_config() {
    local scale=$((KAFKA_TLS == 1 ? 3 : 1))
    (
        umask 077
        cat >"$KAFKA_ADMIN_CONFIG" <<PROPERTIES
security.protocol=$KAFKA_CLIENT_PROTOCOL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(kafka_credential CAREPLAN_KAFKA_ADMIN_PASSWORD)";
request.timeout.ms=$((5000 * scale))
default.api.timeout.ms=$((10000 * scale))
PROPERTIES
        if [[ "$KAFKA_TLS" == 1 ]]; then
            cat >>"$KAFKA_ADMIN_CONFIG" <<PROPERTIES
ssl.truststore.type=PKCS12
ssl.truststore.location=$KAFKA_TLS_DIR/truststore.p12
ssl.truststore.password=$(cat "$KAFKA_TLS_DIR/password")
PROPERTIES
        fi
    )
}

# An admin command against the running cluster, as the administrator.
kafka_admin() {
    local class="$1"
    shift
    kafka_tool "$class" --bootstrap-server "$(kafka_bootstrap)" --command-config "$KAFKA_ADMIN_CONFIG" "$@"
}

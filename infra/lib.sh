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

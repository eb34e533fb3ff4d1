# shellcheck shell=bash
# PostgreSQL helpers shared by start.sh, stop.sh and reset.sh. Sourced.
#
# Where the cluster lives: .local/pg in the repository, holding data/ (the
# cluster), run/ (unix socket) and postgres.log.
#
# When run as root, the server runs as the `postgres` OS user (initdb refuses
# root), and that user must be able to reach .local/pg. If the repository sits
# somewhere it cannot enter (e.g. a 0700 temporary directory), or the path is
# too long for a unix socket, .local/pg is instead a symlink to
# /var/tmp/careplan-pg-<hash of the repository path>.

# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LOG_TAG=postgres

PG_LINK="$LOCAL_DIR/pg"
# shellcheck disable=SC2034  # used by the scripts that source this file
PG_USER=careplan

# Newest installed major version, e.g. /usr/lib/postgresql/15/bin.
pg_bin_dir() {
    local initdb
    initdb="$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1)"
    [[ -n "$initdb" ]] || return 1
    dirname "$initdb"
}

# Run a command as the OS user that owns the cluster. From / so that the
# postgres user never trips over a working directory it cannot enter.
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# Resolved cluster area, or nothing if it was never created.
pg_area_existing() {
    [[ -e "$PG_LINK" ]] && readlink -f "$PG_LINK"
}

# Create the cluster area if needed (see the header) and print its path.
pg_area_create() {
    if [[ -e "$PG_LINK" ]]; then
        readlink -f "$PG_LINK"
        return
    fi
    # A link left dangling (its /var/tmp target cleaned up) is recreated.
    if [[ -L "$PG_LINK" ]]; then
        rm -f "$PG_LINK"
    fi
    mkdir -p "$LOCAL_DIR"
    local target="$PG_LINK" reachable=true
    local socket="$PG_LINK/run/.s.PGSQL.$PG_PORT"
    if [[ "$(id -u)" == 0 ]]; then
        # The postgres user must traverse .local (ours to open up); the
        # directories above the repository are left untouched.
        chmod o+x "$LOCAL_DIR"
        runuser -u postgres -- test -x "$LOCAL_DIR" || reachable=false
    fi
    # Unix socket paths are limited to 107 bytes.
    if ! $reachable || ((${#socket} > 100)); then
        target="/var/tmp/careplan-pg-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"
        mkdir -p "$target"
        ln -s "$target" "$PG_LINK"
    else
        mkdir -p "$target"
    fi
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres: "$target"
    fi
    chmod 700 "$target"
    echo "$target"
}

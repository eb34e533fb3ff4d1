#!/bin/sh
# Connection settings for the local stack started by infra/stack.sh.
#
#   . infra/env.sh             # export them into the current shell
#   eval "$(infra/env.sh)"     # same, printed as shell code
#
# Values already set in the environment win, so CI or a developer can point
# the services elsewhere. DATABASE_URL has no database name: each service
# appends its own (e.g. /careplan_claims).
#
# Plain POSIX sh, so make's /bin/sh can source it too; no `set -eu`, which
# would leak into the shell that sources it.

: "${KAFKA_BOOTSTRAP_SERVERS:=127.0.0.1:${CAREPLAN_KAFKA_PORT:-19092}}"
: "${DATABASE_URL:=postgresql://careplan:careplan@127.0.0.1:${CAREPLAN_PG_PORT:-55432}}"
export KAFKA_BOOTSTRAP_SERVERS DATABASE_URL

# Executed rather than sourced ($0 is then this file): print the settings.
case "${0##*/}" in
    env.sh)
        printf "export KAFKA_BOOTSTRAP_SERVERS='%s'\n" "$KAFKA_BOOTSTRAP_SERVERS"
        printf "export DATABASE_URL='%s'\n" "$DATABASE_URL"
        ;;
esac

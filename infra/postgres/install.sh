#!/usr/bin/env bash
# Install the PostgreSQL server from Debian packages when it is missing.
# A fresh CI machine may not have it; on a prepared machine this is a no-op.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LOG_TAG=postgres

# The version directory is found by globbing, so any packaged major works.
if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    exit 0
fi

[[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed and installing it needs root: apt-get install -y postgresql"
log "installing PostgreSQL from apt"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || die "apt installed postgresql but no initdb was found"

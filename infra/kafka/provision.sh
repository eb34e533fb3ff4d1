#!/usr/bin/env bash
# Give each service principal of infra/kafka/acls.txt its SCRAM credential and its ACLs, on
# the running local broker or cluster. Runs after start; does the work again only when acls.txt changed.
#
# Credentials are generated here, once, into .local/kafka/credentials.env (never in the repo):
# the services and the tests read them from there.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LOG_TAG=kafka

CREDENTIALS="$KAFKA_CREDENTIALS"
ACLS="$INFRA_DIR/kafka/acls.txt"
STAMP="$KAFKA_HOME/acls.applied"
want="$(sha256sum "$ACLS" | cut -d' ' -f1)"
[[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && exit 0

started=$SECONDS
run_tool() { kafka_admin "$@" >/dev/null; }
password() { head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

# shellcheck disable=SC2013  # one principal per line, no spaces in names
for principal in $(grep -v '^#' "$ACLS" | cut -d' ' -f1 | sort -u); do
    var="CAREPLAN_KAFKA_PASSWORD_$(tr 'a-z-' 'A-Z_' <<<"$principal")"
    if ! grep -q "^$var=" "$CREDENTIALS"; then
        echo "$var=$(password)" >>"$CREDENTIALS"
    fi
    secret="$(grep "^$var=" "$CREDENTIALS" | cut -d= -f2-)"
    run_tool kafka.admin.ConfigCommand --alter --entity-type users --entity-name "$principal" \
        --add-config "SCRAM-SHA-512=[password=$secret]"
done

# One AclCommand per (principal, operations, resource, pattern), with all its names.
grep -v '^#' "$ACLS" | awk '{key=$1" "$2" "$3" "$4; names[key]=names[key]" "$5} END {for (k in names) print k names[k]}' |
while read -r principal operations resource pattern names; do
    args=(--add --allow-principal "User:$principal" --resource-pattern-type "$pattern" --force)
    for operation in ${operations//,/ }; do args+=(--operation "$operation"); done
    for name in $names; do args+=("--$resource" "$name"); done
    run_tool org.apache.kafka.tools.AclCommand "${args[@]}"
done
echo "$want" >"$STAMP"
log "principals and ACLs applied ($((SECONDS - started))s)"

#!/bin/sh
# One-shot, run by the kafka-init service before any application service starts: gives each
# principal of the ACL file (infra/kafka/acls.txt, the same file the local stack applies with
# infra/kafka/provision.sh) its SCRAM credential and its ACLs, acting as the administrator.
# The broker denies whatever no ACL allows (allow.everyone.if.no.acl.found=false).
#
# Safe to run again: credentials are set to the configured password, ACLs already present
# are left as they are. ACLs removed from the file are not revoked, but the broker's storage
# lives in its container: a new one (`docker compose down`, then `up`) starts without them.
#
# Plain POSIX sh without awk: the image's /bin/sh and tools are busybox.
set -eu

acl_file="${CAREPLAN_ACL_FILE:-/etc/careplan/acls.txt}"
bin="${CAREPLAN_KAFKA_BIN:-/opt/kafka/bin}"
bootstrap="${KAFKA_BOOTSTRAP_SERVERS:?is not set}"

die() { echo "kafka-init: $*" >&2; exit 1; }

# Passwords go into a JAAS config and into kafka-configs' [key=value,...] syntax unescaped:
# a comma, bracket or quote would silently cut them short.
check_password() {
    case "$2" in
        '') die "$1 is not set: create the credentials (see the top of docker-compose.yml)" ;;
        *[!A-Za-z0-9_-]*) die "$1 may only contain A-Z a-z 0-9 _ -" ;;
    esac
}

[ -r "$acl_file" ] || die "$acl_file is not readable: is infra/kafka/acls.txt mounted?"
check_password CAREPLAN_KAFKA_ADMIN_PASSWORD "${CAREPLAN_KAFKA_ADMIN_PASSWORD:-}"

admin_config="$(mktemp)"
trap 'rm -f "$admin_config"' EXIT
cat >"$admin_config" <<PROPERTIES
security.protocol=SASL_SSL
ssl.truststore.type=PKCS12
ssl.truststore.location=${CAREPLAN_KAFKA_TRUSTSTORE:?is not set}
ssl.truststore.password=${CAREPLAN_KAFKA_TLS_PASSWORD:?is not set}
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$CAREPLAN_KAFKA_ADMIN_PASSWORD";
PROPERTIES

as_admin() {
    tool="$1"
    shift
    "$bin/$tool" --bootstrap-server "$bootstrap" --command-config "$admin_config" "$@"
}

# The ACL lines without comments and blank lines, sorted so that lines sharing a principal,
# operations, resource type and pattern type are adjacent.
acl_lines() {
    grep -v -e '^#' -e '^[[:space:]]*$' "$acl_file" | sort
}

# The whole file is checked before the first change, so that a bad line cannot leave the
# broker half provisioned.
acl_lines | while read -r principal operations resource pattern name extra; do
    if [ -z "$name" ] || [ -n "$extra" ]; then
        die "malformed line in $acl_file: $principal $operations $resource $pattern $name $extra"
    fi
    case "$principal" in
        *[!a-z0-9-]*) die "principal '$principal' in $acl_file: only a-z 0-9 - are expected" ;;
    esac
    case "$resource" in
        topic | group) ;;
        *) die "unexpected resource type '$resource' in $acl_file" ;;
    esac
done

# Each principal's password comes from CAREPLAN_KAFKA_PASSWORD_<PRINCIPAL> (upper case, "-" as
# "_"), the names infra/kafka/provision.sh uses for the local stack. Sets $secret.
secret_of() {
    var="CAREPLAN_KAFKA_PASSWORD_$(printf '%s' "$1" | tr 'a-z-' 'A-Z_')"
    secret=''
    eval "secret=\${$var:-}"
    check_password "$var" "$secret"
}

principals="$(acl_lines | cut -d' ' -f1 | sort -u)"
# Likewise every password: a missing one leaves the broker untouched.
for principal in $principals; do
    secret_of "$principal"
done
for principal in $principals; do
    secret_of "$principal"
    as_admin kafka-configs.sh --alter --entity-type users --entity-name "$principal" \
        --add-config "SCRAM-SHA-512=[password=$secret]"
done

# One kafka-acls.sh (one JVM) per principal, operations, resource type and pattern type, with all
# of its resource names, instead of one per line.
add_acls() {
    [ -n "$names" ] || return 0
    set -- --add --force --allow-principal "User:$current_principal" \
        --resource-pattern-type "$current_pattern"
    # Loop variables of their own: sh has no locals, and the caller's loop reads $name.
    for acl_operation in $(printf '%s' "$current_operations" | tr ',' ' '); do
        set -- "$@" --operation "$acl_operation"
    done
    for acl_name in $names; do
        set -- "$@" "--$current_resource" "$acl_name"
    done
    as_admin kafka-acls.sh "$@" >/dev/null
    echo "kafka-init: $current_principal: $current_operations on $current_resource ($current_pattern):$names"
}

acl_lines | {
    current=''
    names=''
    while read -r principal operations resource pattern name; do
        key="$principal $operations $resource $pattern"
        if [ "$key" != "$current" ]; then
            add_acls
            current="$key"
            current_principal="$principal"
            current_operations="$operations"
            current_resource="$resource"
            current_pattern="$pattern"
            names=''
        fi
        names="$names $name"
    done
    add_acls
}
echo "kafka-init: credentials and ACLs applied from $acl_file"

#!/bin/sh
# Writes the credentials docker-compose.yml takes from its --env-file, random: the database
# password, the Kafka administrator's and the controller listener's, one per principal of
# infra/kafka/acls.txt, and the operations dashboard's login token, into .local/compose.env
# (git-ignored; another path as the first argument). Beside it, in compose-tls/, the brokers'
# CA and certificates (infra/kafka/tls.sh, with keytool: Java must be on this machine), and
# their keystores' password in the env file.
#
#   infra/compose/credentials.sh
#   docker compose --env-file .local/compose.env up --build
#
# Passwords already in the file are kept: a new administrator's password would give the broker
# a new container, and with it new, empty storage. Principals added to acls.txt since the last
# run get theirs. Plain POSIX sh, like the scripts that run inside the containers.
set -eu

repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$repo/.local/compose.env}"
acl_file="$repo/infra/kafka/acls.txt"

# URL-safe base64 without padding: nothing that the JAAS config or kafka-configs would parse.
password() { head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

mkdir -p "$(dirname "$out")"
umask 077
touch "$out"

add() {
    if ! grep -q "^$1=" "$out"; then
        printf '%s=%s\n' "$1" "$(password)" >>"$out"
        echo "added $1"
    fi
}

add CAREPLAN_PG_PASSWORD
add CAREPLAN_KAFKA_ADMIN_PASSWORD
add CAREPLAN_OPERATIONS_TOKEN  # the operations dashboard's login
add CAREPLAN_KAFKA_CONTROLLER_PASSWORD
grep -v -e '^#' -e '^[[:space:]]*$' "$acl_file" | cut -d' ' -f1 | sort -u | while read -r principal; do
    add "CAREPLAN_KAFKA_PASSWORD_$(printf '%s' "$principal" | tr 'a-z-' 'A-Z_')"
done

# One CA and a certificate for each of kafka-1, kafka-2 and kafka-3: the single broker of
# docker-compose.yml is kafka-1, docker-compose.cluster.yml adds the other two.
tls_dir="$(cd "$(dirname "$out")" && pwd)/compose-tls"
CAREPLAN_KAFKA_BROKERS=3 bash "$repo/infra/kafka/tls.sh" "$tls_dir"
# The brokers run as the image's own user, not this one: their key stores are readable to it
# (the CA's own key is not), and only their password, in the env file (readable by its owner
# only), opens them.
chmod 755 "$tls_dir"
chmod 644 "$tls_dir"/node-*.p12 "$tls_dir/truststore.p12"
# The keystores' password is the one tls.sh made them with, even after it made new ones.
grep -v '^CAREPLAN_KAFKA_TLS_PASSWORD=' "$out" >"$out.new" || true
printf 'CAREPLAN_KAFKA_TLS_PASSWORD=%s\n' "$(cat "$tls_dir/password")" >>"$out.new"
mv "$out.new" "$out"
echo "credentials in $out, the brokers' certificates in $tls_dir"

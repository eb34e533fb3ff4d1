#!/usr/bin/env bash
# The stack's own certificate authority and one certificate per broker, made with keytool (it
# comes with Java) when the stack is created, under .local/kafka*/tls/ or the folder given as
# the first argument (infra/compose/credentials.sh: .local/compose-tls/), never in the
# repository. Does nothing when they exist.
#
#   infra/kafka/tls.sh [folder]
#
#   ca.crt            the CA's certificate (PEM): what every client verifies the brokers with
#   truststore.p12    the same, for the Java command-line tools
#   node-<i>.p12      broker i's key and certificate, signed by the CA, for 127.0.0.1,
#                     localhost and kafka-<i> (its name in docker-compose.yml and
#                     docker-compose.cluster.yml)
#   password          the keystores' password
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LOG_TAG=kafka

TLS_DIR="${1:-$KAFKA_TLS_DIR}"
KEYTOOL="${JAVA_HOME:+$JAVA_HOME/bin/}keytool"
VALIDITY_DAYS=825
complete() {
    local i
    [[ -s "$TLS_DIR/ca.crt" && -s "$TLS_DIR/truststore.p12" && -s "$TLS_DIR/password" ]] || return 1
    for ((i = 1; i <= KAFKA_BROKERS; i++)); do [[ -s "$TLS_DIR/node-$i.p12" ]] || return 1; done
}
complete && exit 0

started=$SECONDS
rm -rf "$TLS_DIR" && mkdir -p "$TLS_DIR" && chmod 700 "$TLS_DIR"
(umask 077 && random_secret >"$TLS_DIR/password")
pass="$(cat "$TLS_DIR/password")"
kt() { "$KEYTOOL" -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC "$@"; }

kt -genkeypair -alias ca -dname "CN=careplan local CA" -keyalg RSA -keysize 2048 \
    -validity "$VALIDITY_DAYS" -ext bc:c -keystore "$TLS_DIR/ca.p12" -storetype PKCS12 \
    -storepass "$pass" 2>/dev/null
kt -exportcert -rfc -alias ca -keystore "$TLS_DIR/ca.p12" -storepass "$pass" -file "$TLS_DIR/ca.crt" 2>/dev/null
kt -importcert -noprompt -alias ca -file "$TLS_DIR/ca.crt" -keystore "$TLS_DIR/truststore.p12" \
    -storetype PKCS12 -storepass "$pass" 2>/dev/null
for ((i = 1; i <= KAFKA_BROKERS; i++)); do
    store="$TLS_DIR/node-$i.p12"
    kt -genkeypair -alias broker -dname "CN=kafka-$i" -keyalg RSA -keysize 2048 \
        -validity "$VALIDITY_DAYS" -keystore "$store" -storetype PKCS12 -storepass "$pass" 2>/dev/null
    kt -certreq -alias broker -keystore "$store" -storepass "$pass" -file "$TLS_DIR/node-$i.csr"
    kt -gencert -rfc -alias ca -keystore "$TLS_DIR/ca.p12" -storepass "$pass" \
        -validity "$VALIDITY_DAYS" -ext "SAN=ip:127.0.0.1,dns:localhost,dns:kafka-$i" \
        -ext ku:c=digitalSignature,keyEncipherment -ext eku=serverAuth,clientAuth \
        -infile "$TLS_DIR/node-$i.csr" -outfile "$TLS_DIR/node-$i.crt"
    # The chain: the CA first, then the broker's signed certificate over its own key.
    kt -importcert -noprompt -alias ca -file "$TLS_DIR/ca.crt" -keystore "$store" \
        -storepass "$pass" 2>/dev/null
    kt -importcert -alias broker -file "$TLS_DIR/node-$i.crt" -keystore "$store" \
        -storepass "$pass" >/dev/null 2>&1
    rm -f "$TLS_DIR/node-$i.csr"
done
chmod 600 "$TLS_DIR"/*
chmod 644 "$TLS_DIR/ca.crt"
log "CA and $KAFKA_BROKERS broker certificates made in ${TLS_DIR#"$REPO_ROOT"/} ($((SECONDS - started))s)"

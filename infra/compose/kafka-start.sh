#!/bin/sh
# Entry point of the compose broker: formats its storage with the administrator's SCRAM
# credential, then runs the image's own start (the arguments: /etc/kafka/docker/run).
#
# Why not let the image format the storage: it formats without credentials (apache/kafka 4.1
# has no way to pass --add-scram), and with SASL/SCRAM on every client listener nobody could
# then authenticate to create the first one. Once the storage is formatted here, the image's
# own format step finds it "already formatted" and goes on. The administrator's credential is
# written only when the storage is new: the storage lives in the container, so a new password
# (a new environment, hence a new container) always meets new storage.
#
# Plain POSIX sh: the image's /bin/sh is busybox.
set -eu

bin="${CAREPLAN_KAFKA_BIN:-/opt/kafka/bin}"
admin_password="${CAREPLAN_KAFKA_ADMIN_PASSWORD:?is not set: see the top of docker-compose.yml}"
case "$admin_password" in
    *[!A-Za-z0-9_-]*)
        # It goes into a JAAS config and the --add-scram [key=value] syntax unescaped.
        echo "CAREPLAN_KAFKA_ADMIN_PASSWORD may only contain A-Z a-z 0-9 _ -" >&2
        exit 1
        ;;
esac

# Formatting reads only the node's identity, its quorum and its directories (but validates the
# listeners), so these few settings, taken from the same KAFKA_* variables the image renders the
# broker's configuration from, cannot disagree with it.
format_config="$(mktemp)"
cat >"$format_config" <<PROPERTIES
process.roles=${KAFKA_PROCESS_ROLES:?}
node.id=${KAFKA_NODE_ID:?}
controller.quorum.voters=${KAFKA_CONTROLLER_QUORUM_VOTERS:?}
controller.listener.names=${KAFKA_CONTROLLER_LISTENER_NAMES:?}
listeners=${KAFKA_LISTENERS:?}
advertised.listeners=${KAFKA_ADVERTISED_LISTENERS:?}
listener.security.protocol.map=${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP:?}
inter.broker.listener.name=${KAFKA_INTER_BROKER_LISTENER_NAME:?}
sasl.enabled.mechanisms=${KAFKA_SASL_ENABLED_MECHANISMS:?}
sasl.mechanism.inter.broker.protocol=${KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL:?}
sasl.mechanism.controller.protocol=${KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL:?}
listener.name.controller.sasl.enabled.mechanisms=${KAFKA_LISTENER_NAME_CONTROLLER_SASL_ENABLED_MECHANISMS:?}
log.dirs=${KAFKA_LOG_DIRS:?}
PROPERTIES
# --cluster-id=ID, not -t ID: an id may start with "-", which would read as an option.
"$bin/kafka-storage.sh" format --ignore-formatted --cluster-id="${CLUSTER_ID:?}" \
    --config "$format_config" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$admin_password]"
rm -f "$format_config"

# The healthcheck's client settings: it must authenticate like any other client.
umask 077
cat >"${TMPDIR:-/tmp}/admin.properties" <<PROPERTIES
security.protocol=SASL_SSL
ssl.truststore.type=PKCS12
ssl.truststore.location=${KAFKA_SSL_TRUSTSTORE_LOCATION:?}
ssl.truststore.password=${KAFKA_SSL_TRUSTSTORE_PASSWORD:?}
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_password";
PROPERTIES
umask 022

exec "$@"

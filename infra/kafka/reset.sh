#!/usr/bin/env bash
# Stop Kafka and delete its topics and cluster id, so the next start formats
# fresh storage. The downloaded jars in .local/kafka/libs are kept.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LOG_TAG=kafka
if ((KAFKA_BROKERS > 1)); then exec "$INFRA_DIR/kafka/cluster.sh" reset; fi

"$INFRA_DIR/kafka/stop.sh"
rm -rf "$LOCAL_DIR/kafka/data" "$LOCAL_DIR/kafka/cluster.id" "$LOCAL_DIR/kafka/credentials.env" \
    "$LOCAL_DIR/kafka/admin.properties" "$LOCAL_DIR/kafka/acls.applied" "$LOCAL_DIR/kafka/tls"
log "data removed"

#!/usr/bin/env bash
# Download the Kafka broker jars (and their dependencies) from Maven Central
# into .local/kafka/libs, using infra/kafka/pom.xml as the dependency list.
#
# Kafka is run straight from these jars: no tarball download and no Docker.
# The Maven cache lives in .local/m2 so nothing is written outside the repo.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LOG_TAG=kafka

POM="$INFRA_DIR/kafka/pom.xml"
LIBS_DIR="$LOCAL_DIR/kafka/libs"
# The pom's checksum is stored next to the jars so that editing the pom
# (e.g. a version bump) triggers a fresh copy instead of a mixed classpath.
STAMP="$LIBS_DIR/.pom.sha256"
want="$(sha256sum "$POM" | cut -d' ' -f1)"

if compgen -G "$LIBS_DIR/kafka_2.13-*.jar" >/dev/null \
    && [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    exit 0
fi

command -v java >/dev/null || die "java is not installed (apt-get install -y openjdk-17-jre-headless)"
command -v mvn >/dev/null || die "mvn is not installed (apt-get install -y maven)"

started=$SECONDS
log "resolving Kafka jars with Maven into ${LIBS_DIR#"$REPO_ROOT"/}"
rm -rf "$LIBS_DIR"
# Output is captured and shown only on failure: with -q Maven 3.8 still
# prints stray terminal escape codes.
if ! out="$(mvn -q -B -f "$POM" \
        dependency:copy-dependencies \
        -DoutputDirectory="$LIBS_DIR" \
        -Dmaven.repo.local="$LOCAL_DIR/m2" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "Maven could not resolve the Kafka jars"
fi

compgen -G "$LIBS_DIR/kafka_2.13-*.jar" >/dev/null || die "Maven finished but no kafka_2.13 jar is in $LIBS_DIR"
echo "$want" >"$STAMP"
log "$(find "$LIBS_DIR" -name '*.jar' | wc -l) jars ready ($((SECONDS - started))s)"

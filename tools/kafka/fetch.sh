#!/usr/bin/env bash
# Resolves the Apache Kafka broker's runtime classpath from Maven Central into the cache and
# prints the directory holding the jars. Idempotent: a marker file records a complete download.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(grep -A1 '<artifactId>kafka_2.13</artifactId>' "$here/pom.xml" |
  sed -n 's:.*<version>\(.*\)</version>.*:\1:p')"
if [ -z "$version" ]; then
  echo "fetch.sh: cannot read the kafka_2.13 version from $here/pom.xml" >&2
  exit 1
fi
cache="${BRIDGE_CACHE_DIR:-$HOME/.cache/capillary-bridge}/kafka-${version}"
if [ ! -f "$cache/.complete" ]; then
  rm -rf "$cache/libs"
  mkdir -p "$cache/libs"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$cache/libs" -DincludeScope=runtime >&2
  touch "$cache/.complete"
fi
echo "$cache/libs"

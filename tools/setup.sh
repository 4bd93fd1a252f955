#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine, and nothing twice:
#   - build and runtime libraries from Debian's packages (apt),
#   - librdkafka, built from a pinned, checksummed release (tools/librdkafka/build.sh),
#   - the Apache Kafka broker's jars from Maven Central (for integration tests and benches),
#     cached under ${BRIDGE_CACHE_DIR:-~/.cache/capillary-bridge}.
# Flags: --no-kafka   skip the broker jars (enough for `capillary-bridge dev`).
set -euo pipefail
cd "$(dirname "$0")/.."

want_kafka=1
for arg in "$@"; do
  case "$arg" in
    --no-kafka) want_kafka=0 ;;
    *) echo "setup.sh: unknown flag: $arg" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build pkg-config ccache git curl ca-certificates openssl
  libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev libsimdjson-dev libyaml-cpp-dev prometheus-cpp-dev libcivetweb-dev libmicrohttpd-dev
  libcurl4-openssl-dev libspdlog-dev libfmt-dev libcli11-dev libexpected-dev
  rapidjson-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev libvalijson-dev
  clang libclang-rt-14-dev
  kafkacat prometheus clang-format clang-tidy
)
if [ "$want_kafka" = 1 ]; then
  packages+=(openjdk-17-jre-headless maven)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

tools/librdkafka/build.sh >/dev/null
if [ "$want_kafka" = 1 ]; then
  tools/kafka/fetch.sh >/dev/null
fi
echo "setup: ok" >&2

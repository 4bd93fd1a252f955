#!/usr/bin/env bash
# README command 1: install everything, build, and run `capillary-bridge dev` (an embedded
# Kafka-protocol broker, seeded sample events, the real pipeline). Extra arguments go to `dev`,
# e.g. `tools/dev.sh --exit-when-done`. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --no-kafka
tools/build.sh default
exec build/default/bridge/capillary-bridge dev "$@"

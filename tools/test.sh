#!/usr/bin/env bash
# README command 2: install everything (apt packages, the Kafka broker's jars), build, and run
# every test: unit, integration (real Apache Kafka broker on loopback) and e2e. Safe to run again.
#   tools/test.sh              all tests, default build, then the quick chaos run
#   tools/test.sh -L unit      pass ctest arguments through
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh default
# Integration tests each start their own broker (a JVM): run them one at a time on two cores.
ctest --preset default --output-on-failure "$@"
# The quick chaos run (bench/chaos: every fault scenario against a real broker, the binary and the
# emulator, ~6 min) when no test selection was given.
if [ "$#" -eq 0 ]; then
  ctest --preset chaos
fi

#!/usr/bin/env bash
# README command 2: install everything (apt packages, the Kafka broker's jars), build, and run
# every test: unit, integration (real Apache Kafka broker on loopback) and e2e. Safe to run again.
#   tools/test.sh              all tests, default build
#   tools/test.sh -L unit      pass ctest arguments through
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh default
# Integration tests each start their own broker (a JVM): run them one at a time on two cores.
ctest --preset default --output-on-failure "$@"

#!/usr/bin/env bash
# Configures and builds a preset (default: "default"; also "asan", "tsan"). Assumes
# tools/setup.sh has run. Uses at most two compile jobs: the reference machine has two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
if [ ! -f "build/${preset}/build.ninja" ]; then
  cmake --preset "${preset}" >/dev/null
fi
cmake --build --preset "${preset}"

#!/usr/bin/env bash
# The chaos suite (bench/chaos, bench/README.md): a real Kafka broker, the real capillary-bridge
# and platform-emulator binaries, fault scenarios, one table. Builds what it needs first (only
# those targets), then runs it; exit 0 only when every check of every scenario passed.
#   tools/chaos.sh                       full run (about 25 minutes on the 2-core reference machine)
#   tools/chaos.sh --quick               reduced run (CI: ~10x fewer events and kills)
#   tools/chaos.sh --scenario a,e        pick scenarios (names or letters; --list shows them)
#   tools/chaos.sh --seed N              replay the random choices of an earlier run
# Assumes tools/setup.sh has run (packages, the broker's jars). BRIDGE_KEEP_TEST_DIRS=1 keeps
# each scenario's configs and logs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/default/build.ninja ]; then
  cmake --preset default >/dev/null
fi
cmake --build build/default --target bridge_chaos capillary-bridge platform-emulator -j2 >&2
exec build/default/bench/bridge_chaos "$@"

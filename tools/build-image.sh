#!/usr/bin/env bash
# Builds the two images of the Dockerfile for real, without a container registry, and runs them
# (CI runs this; ../shared/reference/container-build.md has the why of each step):
#   - the Debian bases come from the Debian mirror (mmdebstrap), imported as
#     docker.io/library/debian:{bookworm,bookworm-slim}, so `FROM` needs no pull;
#   - podman (Debian's) builds with --format docker (keeps SHELL and HEALTHCHECK) and runs with
#     runc (crun refuses this machine's hybrid cgroups) and ulimits the host allows, set in a
#     containers.conf of our own (CONTAINERS_CONF), so the machine's own podman config is untouched;
#   - capillary-bridge:VERSION (default target: production, the bridge only) and
#     capillary-bridge-emulator:VERSION (target platform-emulator) share one build stage.
# Then, as uid 10001 with a read-only root filesystem (Docker's meaning: no tmpfs unless asked):
# `--version`, `validate` on the shipped example config, `dev --exit-when-done` (a tmpfs on /tmp
# for its output), the user and what the production image must not carry, and the emulator
# answering /healthz. Exit 1 on any failure. Safe to run again (bases and layers are reused).
# Needs root (podman as root; apt-get through sudo otherwise) and network access to the Debian
# mirror and crates.io (librdkafka's source, as tools/librdkafka/build.sh fetches it).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^project(capillary-bridge VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || { echo "build-image: no version in CMakeLists.txt" >&2; exit 1; }
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
bridge_image=capillary-bridge:$version
emulator_image=capillary-bridge-emulator:$version
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

missing=()
for tool in podman:podman mmdebstrap:mmdebstrap runc:runc; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== apt-get install ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

work=build/image
mkdir -p "$work"
nofile=$(ulimit -Hn)
cat >"$work/containers.conf" <<CONF
# Written by tools/build-image.sh.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
export CONTAINERS_CONF=$PWD/$work/containers.conf
podman=(podman)
[ -z "$sudo" ] || podman=(sudo --preserve-env=CONTAINERS_CONF podman)

started=$(date +%s)
step() { echo "== [$(( $(date +%s) - started )) s] $*" >&2; }

# ---- base images from the Debian mirror
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
common=(--variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
slim=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
      --dpkgopt='path-include=/usr/share/locale/locale.alias' --dpkgopt='path-exclude=/usr/share/doc/*'
      --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*'
      --dpkgopt='path-exclude=/usr/share/groff/*' --dpkgopt='path-exclude=/usr/share/lintian/*')
for tag in bookworm bookworm-slim; do
  if "${podman[@]}" image exists "docker.io/library/debian:$tag"; then
    continue
  fi
  step "mmdebstrap debian:$tag"
  opts=("${common[@]}")
  [ "$tag" = bookworm ] || opts+=("${slim[@]}")
  $sudo mmdebstrap -q "${opts[@]}" bookworm "$work/$tag.tar" "$sources" >"$work/mmdebstrap-$tag.log" 2>&1 ||
    { tail -n 40 "$work/mmdebstrap-$tag.log" >&2; exit 1; }
  "${podman[@]}" import -q \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' "$work/$tag.tar" "docker.io/library/debian:$tag" >/dev/null
  rm -f "$work/$tag.tar"
done

# ---- the two images (the build stage is shared: the second build reuses its layers)
build=("${podman[@]}" build --pull=never --network host --format docker
       --build-arg "VERSION=$version" --build-arg "REVISION=$revision")
# The host's CA bundle for the build's HTTPS downloads (librdkafka's source from crates.io): it
# trusts what the host trusts, a TLS-inspecting egress proxy included.
host_ca=${CURL_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
if [ -f "$host_ca" ]; then
  build+=(-v "$(readlink -f "$host_ca"):/run/host-ca.crt:ro" --build-arg CA_BUNDLE=/run/host-ca.crt)
fi
step "podman build $bridge_image (production: the default target)"
"${build[@]}" -t "$bridge_image" . >"$work/build-bridge.log" 2>&1 ||
  { tail -n 40 "$work/build-bridge.log" >&2; exit 1; }
step "podman build $emulator_image (target platform-emulator)"
"${build[@]}" --target platform-emulator -t "$emulator_image" . >"$work/build-emulator.log" 2>&1 ||
  { tail -n 40 "$work/build-emulator.log" >&2; exit 1; }

# ---- run them
fail=0
problem() { echo "build-image: $*" >&2; fail=1; }
# Docker's --read-only: no tmpfs anywhere unless asked for (podman adds /tmp, /var/tmp, /run).
run=("${podman[@]}" run --rm --no-healthcheck --read-only --read-only-tmpfs=false --network none
     --user 10001:10001)

step "run: --version"
out=$("${run[@]}" "$bridge_image" --version 2>&1) || problem "--version failed: $out"
[ "$out" = "$version" ] || problem "--version printed '$out', not '$version'"
echo "  $out" >&2

step "run: id (the image's own USER)"
out=$("${podman[@]}" run --rm --no-healthcheck --read-only --read-only-tmpfs=false --network none \
      --entrypoint id "$bridge_image" 2>&1) || problem "id failed: $out"
case "$out" in "uid=10001(bridge) gid=10001(bridge)"*) ;; *) problem "runs as '$out', not uid 10001" ;; esac
echo "  $out" >&2

step "run: validate -c /etc/capillary-bridge/bridge.yaml (the shipped example config)"
out=$("${run[@]}" -e IMS_CLIENT_SECRET=not-a-real-secret "$bridge_image" \
      validate -c /etc/capillary-bridge/bridge.yaml 2>&1) || problem "validate failed: $out"
[ "$out" = "/etc/capillary-bridge/bridge.yaml: ok" ] || problem "validate printed: $out"
echo "  $out" >&2
out=$("${run[@]}" "$bridge_image" validate -c /etc/capillary-bridge/bridge.yaml 2>&1) &&
  problem "validate without IMS_CLIENT_SECRET passed: $out"
grep -q 'IMS_CLIENT_SECRET is not set' <<<"$out" ||
  problem "validate without IMS_CLIENT_SECRET did not name it: $out"

step "run: dev --exit-when-done (read-only root, tmpfs on /tmp for its output)"
if out=$("${run[@]}" --tmpfs /tmp:rw,size=64m,mode=1777 "$bridge_image" \
      dev --exit-when-done 2>&1); then
  summary=$(grep -E '^(summary|platform):' <<<"$out" || true)
  grep -q 'messages accepted' <<<"$summary" || problem "dev printed no summary: $(tail -n 20 <<<"$out")"
  accepted=$(sed -n 's/.* \([0-9][0-9]*\) messages accepted.*/\1/p' <<<"$summary")
  [ "${accepted:-0}" -gt 0 ] || problem "dev delivered nothing: $summary"
  sed 's/^/  /' <<<"$summary" >&2
else
  problem "dev --exit-when-done failed: $(tail -n 20 <<<"$out")"
fi

step "production image carries the bridge only"
out=$("${podman[@]}" run --rm --no-healthcheck --read-only --read-only-tmpfs=false --network none \
      --entrypoint /bin/sh "$bridge_image" -c 'ls /usr/local/bin; command -v platform-emulator || true' 2>&1)
[ "$out" = "capillary-bridge" ] || problem "/usr/local/bin of the production image: $out"
ports=$("${podman[@]}" image inspect --format '{{json .Config.ExposedPorts}}' "$bridge_image")
case "$ports" in *8088*) problem "the production image exposes 8088: $ports" ;; esac
echo "  /usr/local/bin: $out; exposed: $ports" >&2

step "run: the emulator image answers /healthz"
name=cb-emulator-$$
# A free loopback port (the emulator picks it and writes it to a tmpfs: the root is read-only).
"${podman[@]}" run -d --rm --no-healthcheck --read-only --read-only-tmpfs=false --network host \
  --tmpfs /tmp:rw,size=1m,mode=1777 --name "$name" "$emulator_image" \
  --listen 127.0.0.1:0 --port-file /tmp/port >/dev/null
healthy=""
for _ in $(seq 1 50); do
  port=$("${podman[@]}" exec "$name" cat /tmp/port 2>/dev/null || true)
  if [ -n "$port" ] && "${podman[@]}" exec "$name" curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz"; then
    healthy=$port
    break
  fi
  sleep 0.2
done
[ -n "$healthy" ] || problem "the emulator image did not answer /healthz: $("${podman[@]}" logs "$name" 2>&1 | tail -n 10)"
out=$("${podman[@]}" exec "$name" id 2>&1 || true)
case "$out" in "uid=10001(bridge)"*) ;; *) problem "the emulator runs as '$out'" ;; esac
"${podman[@]}" stop -t 5 "$name" >/dev/null 2>&1 || true
echo "  /healthz on 127.0.0.1:${healthy:-?} as $out" >&2

step "sizes"
"${podman[@]}" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
  grep -E "capillary-bridge(-emulator)?:$version|debian:bookworm" | sed 's/^/  /' >&2
[ "$fail" = 0 ] || exit 1
step "images built and run: $bridge_image, $emulator_image"

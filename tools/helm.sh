#!/usr/bin/env bash
# Installs the pinned Helm 3 CLI and prints its path. Built from source with `go install` through
# the Go module proxy (helm v3.21's go.mod needs Go >= 1.26), cached in
# ${BRIDGE_CACHE_DIR:-~/.cache/capillary-bridge}/bin; a second run only prints the path.
# Usage: helm="$(tools/helm.sh)"
set -euo pipefail

readonly helm_version=v3.21.4

cache="${BRIDGE_CACHE_DIR:-$HOME/.cache/capillary-bridge}"
mkdir -p "$cache/bin"
bin_dir="$(cd "$cache/bin" && pwd)"
target="$bin_dir/helm-$helm_version"

if [ -x "$target" ] && "$target" version --template '{{.Version}}' 2>/dev/null |
  grep -qx "$helm_version"; then
  echo "$target"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "helm.sh: Go is needed to build helm $helm_version (Go >= 1.26, from go.dev)" >&2
  exit 1
fi

work="$(mktemp -d "$bin_dir/.helm-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cd "$work"   # outside any go.mod: `go install pkg@version` and `go mod download` stand alone
echo "helm.sh: building helm $helm_version with $(go env GOVERSION) (a few minutes the first time)" >&2
# Helm's Makefile stamps the version and the Kubernetes version that `helm template` and
# `helm lint` assume (1.<client-go minor>); plain `go install` would leave v3.21 and v1.20.
gomod="$(go mod download -json "helm.sh/helm/v3@$helm_version" |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
client_go="$(awk '$1 == "k8s.io/client-go" { print $2 }' "$gomod")"   # v0.MINOR.PATCH
k8s_minor="$(echo "$client_go" | cut -d. -f2)"
if [ -z "$k8s_minor" ]; then
  echo "helm.sh: cannot read k8s.io/client-go's version from $gomod" >&2
  exit 1
fi
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in pkg/lint/rules pkg/chartutil; do
  ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$k8s_minor"
done

GOBIN="$work" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
  nice -n 19 go install -p 2 -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$helm_version"

mv -f "$work/helm" "$target"   # same file system: atomic, so a concurrent run sees old or new
ln -sfn "helm-$helm_version" "$bin_dir/helm"
"$target" version --template '{{.Version}}' | grep -qx "$helm_version"
echo "$target"

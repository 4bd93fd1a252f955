#!/usr/bin/env bash
# Offline checks of the deployment files with the real tools, installed by this repository's own
# scripts. One function per check; with no arguments every check runs, or name some:
#   tools/check-deploy.sh [helm_lint] [helm_template] [helm_invalid] [manifest_checker] [bridge_config]
# Rendered manifests are kept in ${BRIDGE_DEPLOY_OUT:-build/deploy-check} for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly chart=helm/capillary-bridge
readonly out="${BRIDGE_DEPLOY_OUT:-build/deploy-check}"
readonly cache="${BRIDGE_CACHE_DIR:-$HOME/.cache/capillary-bridge}"
readonly release=capillary-bridge
readonly namespace=streaming

# Scenarios: name | values files on top of ci/defaults-values.yaml | kinds it must render |
# kinds it must not render | Secrets it may reference without rendering them (existingSecret).
readonly scenarios=(
  "defaults||Deployment ConfigMap Secret Service ServiceAccount PodDisruptionBudget|HorizontalPodAutoscaler ScaledObject ServiceMonitor PodMonitor PrometheusRule|"
  "existing-secret|existing-secret-values.yaml|Deployment ConfigMap Service|Secret|capillary-bridge-ims kafka-bridge-user kafka-bridge-tls capillary-bridge-env registry-credentials"
  "keda|keda-values.yaml|ScaledObject PodDisruptionBudget|HorizontalPodAutoscaler|"
  "monitoring|monitoring-values.yaml|ServiceMonitor PodMonitor PrometheusRule|HorizontalPodAutoscaler ScaledObject|"
  "hpa-pdb|hpa-pdb-values.yaml|HorizontalPodAutoscaler PodDisruptionBudget|ScaledObject|"
  "platform-check|platform-check-values.yaml|Job Deployment ConfigMap Secret||"
  "platform-check-existing-secret|existing-secret-values.yaml platform-check-values.yaml|Job Deployment ConfigMap|Secret|capillary-bridge-ims kafka-bridge-user kafka-bridge-tls capillary-bridge-env registry-credentials"
  "receiver|receiver-values.yaml|Deployment ConfigMap Secret Service PodDisruptionBudget HorizontalPodAutoscaler Ingress|ScaledObject ServiceMonitor PodMonitor|"
  "receiver-monitoring|receiver-values.yaml monitoring-values.yaml|Ingress ServiceMonitor PodMonitor PrometheusRule|ScaledObject|"
  "receiver-existing-secret|existing-secret-values.yaml receiver-existing-secret-values.yaml|Deployment ConfigMap Service PodDisruptionBudget|Secret HorizontalPodAutoscaler Ingress|capillary-bridge-ims kafka-bridge-user kafka-bridge-tls capillary-bridge-env registry-credentials capillary-webhook-tokens capillary-receiver-tls"
)

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

helm_bin() {
  if [ -z "${helm:-}" ]; then
    helm="$(tools/helm.sh)"
  fi
}

# Python 3 with PyYAML: the interpreter's own when it has it, else a venv in the cache (PyPI).
python_bin() {
  if [ -n "${python:-}" ]; then
    return
  fi
  if python3 -c 'import yaml' 2>/dev/null; then
    python=python3
    return
  fi
  local venv="$cache/venv-deploy-check"
  if ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
    echo "check-deploy: installing PyYAML into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'PyYAML==6.0.2'
  fi
  python="$venv/bin/python"
}

scenario_values() { # name extra-files -> -f arguments
  local extra="$2" args=(-f "$chart/ci/defaults-values.yaml")
  for f in $extra; do
    args+=(-f "$chart/ci/$f")
  done
  echo "${args[@]}"
}

# `helm lint --strict` (warnings fail too) with each scenario's values.
check_helm_lint() {
  helm_bin
  local entry name extra
  for entry in "${scenarios[@]}"; do
    IFS='|' read -r name extra _ <<<"$entry"
    # shellcheck disable=SC2046
    if ! "$helm" lint --strict --quiet "$chart" $(scenario_values "$name" "$extra") \
      --namespace "$namespace" >"$out/lint-$name.txt" 2>&1; then
      fail "helm lint --strict ($name):"
      cat "$out/lint-$name.txt" >&2
    else
      echo "helm lint --strict ($name): ok"
    fi
  done
}

# `helm template` of each scenario, then the structural checker over what it rendered.
check_helm_template() {
  helm_bin
  python_bin
  local entry name extra expect forbid external args
  for entry in "${scenarios[@]}"; do
    IFS='|' read -r name extra expect forbid external <<<"$entry"
    # shellcheck disable=SC2046
    if ! "$helm" template "$release" "$chart" --namespace "$namespace" \
      $(scenario_values "$name" "$extra") >"$out/$name.yaml" 2>"$out/$name.err"; then
      fail "helm template ($name):"
      cat "$out/$name.err" >&2
      continue
    fi
    args=()
    for k in $expect; do args+=(--expect "$k"); done
    for k in $forbid; do args+=(--forbid "$k"); done
    for s in $external; do args+=(--external-secret "$s"); done
    if ! "$python" tools/check_manifests.py "${args[@]}" "$out/$name.yaml"; then
      fail "rendered manifests ($name) do not pass tools/check_manifests.py"
    fi
  done
}

# Values that must be refused at install, each with the message the user sees: the schema
# (types, enums, unknown keys, required settings) and the chart's cross-field checks.
check_helm_invalid() {
  helm_bin
  local f expect
  if "$helm" template "$release" "$chart" >"$out/invalid-no-values.out" 2>&1; then
    fail "the chart rendered with no values at all (kafka.brokers and the rest must be required)"
  elif ! grep -q 'brokers' "$out/invalid-no-values.out"; then
    fail "no values: the error does not name kafka.brokers:"
    cat "$out/invalid-no-values.out" >&2
  else
    echo "refused as it should be (no values): $(grep -c "at '/" "$out/invalid-no-values.out") schema errors"
  fi
  for f in helm/tests/invalid/*.yaml; do
    expect="$(sed -n 's/^# expect: //p' "$f" | head -1)"
    if [ -z "$expect" ]; then
      fail "$f has no '# expect:' line"
      continue
    fi
    if "$helm" template "$release" "$chart" -f "$chart/ci/defaults-values.yaml" -f "$f" \
      >"$out/invalid-$(basename "$f" .yaml).out" 2>&1; then
      fail "$f: helm template succeeded, but these values must be refused"
    elif ! grep -qF -- "$expect" "$out/invalid-$(basename "$f" .yaml).out"; then
      fail "$f: refused, but the message does not mention '$expect':"
      cat "$out/invalid-$(basename "$f" .yaml).out" >&2
    else
      echo "refused as it should be ($(basename "$f")): $(grep -m1 -F -- "$expect" "$out/invalid-$(basename "$f" .yaml).out" | cut -c1-150)"
    fi
  done
}

# The checker catches what it claims to: broken copies of a rendered release must each fail.
check_manifest_checker() {
  helm_bin
  python_bin
  # shellcheck disable=SC2046
  "$helm" template "$release" "$chart" --namespace "$namespace" \
    $(scenario_values selftest "hpa-pdb-values.yaml platform-check-values.yaml receiver-values.yaml") >"$out/selftest.yaml"
  if ! "$python" tools/check_manifests.py --self-test "$out/selftest.yaml"; then
    fail "tools/check_manifests.py --self-test"
  fi
}

# The bridge's own config loader accepts every config the chart renders: the bridge's bridge.yaml
# and, with receiver.enabled, the receiver's receiver.yaml (`capillary-bridge validate`, with the
# mounted secret files and ${ENV} values stood in for).
check_bridge_config() {
  python_bin
  local bin="${BRIDGE_BIN:-build/default/bridge/capillary-bridge}"
  if [ ! -x "$bin" ]; then
    if [ "${CI:-}" = true ]; then
      fail "bridge_config: no $bin (run tools/build.sh first, or set BRIDGE_BIN)"
    else
      echo "bridge_config: skipped, no $bin (tools/build.sh builds it; or set BRIDGE_BIN)"
    fi
    return
  fi
  helm_bin
  # The chart's own default route (values.yaml) with only the tenant filled in: the ci/ files
  # replace the routes list, so without this the defaults users start from would go unchecked.
  "$python" - "$chart/values.yaml" >"$out/default-route-values.yaml" <<'EOF'
import sys, yaml
routes = yaml.safe_load(open(sys.argv[1]))["config"]["routes"]
routes[0]["settings"]["tenant"] = "acme"
yaml.safe_dump({"config": {"routes": routes}}, sys.stdout)
EOF
  "$helm" template "$release" "$chart" --namespace "$namespace" -f "$chart/ci/defaults-values.yaml" \
    -f "$out/default-route-values.yaml" >"$out/default-route.yaml"
  local entry name rendered dir stand_ins
  for entry in "${scenarios[@]}" "default-route||||"; do
    IFS='|' read -r name _ <<<"$entry"
    rendered="$out/$name.yaml"
    if [ ! -f "$rendered" ]; then
      fail "bridge_config: $rendered is missing (run the helm_template check first)"
      continue
    fi
    dir="$out/config-$name"
    rm -rf "$dir" && mkdir -p "$dir"
    "$python" - "$rendered" "$dir" <<'EOF'
import os, re, sys, yaml
rendered, out = sys.argv[1], sys.argv[2]
cm = next(d for d in yaml.safe_load_all(open(rendered)) if d and d["kind"] == "ConfigMap"
          and "bridge.yaml" in (d.get("data") or {}))
mounts = "/var/run/secrets/capillary-bridge/"
names = set()
for key in ("bridge.yaml", "receiver.yaml"):
    text = cm["data"].get(key)
    if text is None:
        continue
    for path in sorted(set(re.findall(re.escape(mounts) + r"[\w./-]+", text))):
        local = os.path.join(out, "secrets", path[len(mounts):])
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, "w") as f:
            f.write("stand-in-secret\n")
        text = text.replace(path, os.path.abspath(local))
    with open(os.path.join(out, key), "w") as f:
        f.write(text)
    names |= set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
with open(os.path.join(out, "env"), "w") as f:
    for name in sorted(names):
        f.write(f"{name}=stand-in\n")
EOF
    mapfile -t stand_ins <"$dir/env"
    for key in bridge.yaml receiver.yaml; do
      [ -f "$dir/$key" ] || continue
      if ! env "${stand_ins[@]}" "$bin" validate -c "$dir/$key" >"$dir/validate-$key.txt" 2>&1; then
        fail "capillary-bridge validate rejects $key of the ConfigMap of $name:"
        cat "$dir/validate-$key.txt" >&2
      else
        echo "capillary-bridge validate ($name, $key): ok"
      fi
    done
  done
}

all_checks=(helm_lint helm_template helm_invalid manifest_checker bridge_config)
mkdir -p "$out"
checks=("$@")
if [ "${#checks[@]}" = 0 ]; then
  checks=("${all_checks[@]}")
fi
for c in "${checks[@]}"; do
  if ! declare -F "check_$c" >/dev/null; then
    echo "check-deploy: unknown check '$c' (known: ${all_checks[*]})" >&2
    exit 2
  fi
  echo "== $c"
  "check_$c"
done
if [ "$failures" -gt 0 ]; then
  echo "check-deploy: $failures check(s) failed" >&2
  exit 1
fi
echo "check-deploy: all passed (${checks[*]})"

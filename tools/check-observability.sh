#!/usr/bin/env bash
# Checks the alert rules and the Grafana dashboard (helm/capillary-bridge/files/) against what the
# bridge really exports:
#   1. promtool check rules, and promtool test rules with deploy/prometheus/alerts.test.yaml;
#   2. a live `capillary-bridge dev` on free loopback ports, driven until every metric family the
#      dashboard and rules read has series (the seeded samples; then an expired IMS token, which
#      makes the sink refresh and resend, and one event with a bad currency code, which makes the
#      catalogue warn; then webhooks to its in-process receiver: every sample, one with a wrong
#      token, one that is not JSON), and a `capillary-bridge receive` whose broker is down (not
#      ready, a webhook answered 503 broker-down, exit 0 on SIGTERM); both /metrics scraped;
#   3. meanwhile a real Prometheus (Debian's, from the same package as promtool) scrapes both
#      every second and loads the rules: every dashboard query must answer, with data when it reads
#      only the bridge's metrics, and every rule must evaluate with health "ok";
#   4. tools/stack-check (Go: Prometheus' PromQL parser, the exposition-format parser): every metric
#      name in the dashboard's and the rules' queries is in those scrapes (capillary_bridge_*, a
#      histogram's _bucket/_sum/_count included) and in docs/metrics.md, or is one of ALLOW below;
#      the dashboard's structure; every alert tested both firing and quiet.
# Needs tools/setup.sh (promtool, prometheus, kcat, curl), a build (tools/build.sh default; or set
# CAPILLARY_BRIDGE_BIN) and Go >= 1.26 (tools/stack-check/go.mod; modules from the Go proxy).
set -euo pipefail
cd "$(dirname "$0")/.."

# Metrics of other exporters the dashboard and rules may read: Prometheus' own `up`,
# kube-state-metrics (restarts, crash loops, limits) and cAdvisor (memory, CPU; the bridge exports
# no process_* metrics).
ALLOW=up,kube_pod_container_status_restarts_total,kube_pod_container_status_waiting_reason
ALLOW+=,kube_pod_container_resource_limits,container_memory_working_set_bytes
ALLOW+=,container_cpu_usage_seconds_total

rules=helm/capillary-bridge/files/alerts.rules.yaml
dashboard=helm/capillary-bridge/files/dashboard.json
bin=${CAPILLARY_BRIDGE_BIN:-build/default/bridge/capillary-bridge}

for tool in promtool prometheus kcat curl go; do
  command -v "$tool" >/dev/null || { echo "check-observability: $tool not found (tools/setup.sh; Go from the machine)" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "check-observability: $bin missing: tools/build.sh default" >&2; exit 1; }

echo "== promtool check rules" >&2
promtool check rules "$rules"
echo "== promtool test rules" >&2
promtool test rules deploy/prometheus/alerts.test.yaml

echo "== tools/stack-check" >&2
mkdir -p build/tools
(cd tools/stack-check && go build -o ../../build/tools/stack-check .)

work=$(mktemp -d)
dev_pid=""
prom_pid=""
rx_pid=""
cleanup() {
  for pid in "$dev_pid" "$prom_pid" "$rx_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
# Sum of every sample of a metric in a scrape (0 when absent).
sum_of() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d", s }' "$2"; }
scrape() { curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"; }
# wait_for SECONDS WHAT COMMAND...: retries COMMAND every 0.5 s.
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then
      echo "check-observability: timed out waiting for $what; dev said:" >&2
      tail -n 20 "$work/dev.err" >&2 || true
      exit 1
    fi
    if ! kill -0 "$dev_pid" 2>/dev/null; then
      echo "check-observability: capillary-bridge dev exited; it said:" >&2
      tail -n 20 "$work/dev.err" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}
settled() {
  scrape || return 1
  local consumed delivered dead
  consumed=$(sum_of capillary_bridge_records_consumed_total "$work/metrics.txt")
  delivered=$(sum_of capillary_bridge_records_delivered_total "$work/metrics.txt")
  dead=$(sum_of capillary_bridge_records_dead_lettered_total "$work/metrics.txt")
  [ "$consumed" -ge "$1" ] && [ $((delivered + dead)) -ge "$1" ]
}
has_series() { scrape && grep -q "^$1" "$work/metrics.txt"; }
# post URL TOKEN BODY: POSTs one webhook, prints the HTTP status (000: no answer).
post() {
  printf '%s' "$3" | curl -sS --max-time 20 -o "$work/answer.json" -w '%{http_code}' \
    -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data-binary @- "$1" || true
}
expect_post() { # STATUS URL TOKEN BODY WHAT
  local code
  code=$(post "$2" "$3" "$4")
  if [ "$code" != "$1" ]; then
    echo "check-observability: $5 was answered $code, not $1: $(cat "$work/answer.json" 2>/dev/null)" >&2
    exit 1
  fi
}

token=check-observability-token
port=$(free_port)
echo "== capillary-bridge dev (metrics on 127.0.0.1:$port)" >&2
CAPILLARY_BRIDGE_DEV_WEBHOOK_TOKEN=$token "$bin" dev --metrics-listen "127.0.0.1:$port" \
  --emulator-listen 127.0.0.1:0 --output "$work/accepted.ndjson" >"$work/dev.out" 2>"$work/dev.err" &
dev_pid=$!

# A second receiver, `capillary-bridge receive` with config/dev.yaml, whose broker is a closed port:
# it starts not ready and answers webhooks 503 (broker-down), which dev's healthy one never does.
rx_port=$(free_port)
rx_metrics=$(free_port)
dead_broker=$(free_port)
prom_port=$(free_port)
cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$PWD/$rules"]
scrape_configs:
  - job_name: capillary-bridge
    static_configs:
      - targets: ["127.0.0.1:$port"]
        labels: {container: capillary-bridge}
  - job_name: capillary-bridge-receiver
    static_configs:
      - targets: ["127.0.0.1:$rx_metrics"]
        labels: {container: capillary-bridge-receiver}
EOF
echo "== prometheus on 127.0.0.1:$prom_port" >&2
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
prom_pid=$!

# dev prints its banner (addresses, seeded count) and progress on stderr.
wait_for 60 "dev to seed its samples" grep -q "seeded" "$work/dev.err"
broker=$(sed -n 's/^ *embedded Kafka broker *: *\([^ ]*\).*/\1/p' "$work/dev.err")
emulator=$(sed -n 's/^ *platform emulator *: *\(http[^ ]*\).*/\1/p' "$work/dev.err")
seeded=$(sed -n 's/^ *seeded *: *\([0-9]*\).*/\1/p' "$work/dev.err")
[ -n "$broker" ] && [ -n "$emulator" ] && [ -n "$seeded" ] ||
  { echo "check-observability: cannot read dev's banner:" >&2; cat "$work/dev.err" >&2; exit 1; }
wait_for 90 "the $seeded seeded events to settle" settled "$seeded"

# An expired token: the next request gets a 401, the sink refreshes and resends (reason reauth).
curl -fsS --max-time 5 -X POST "$emulator/emulator/tokens/expire" >/dev/null
# A transactionAdded with a currency code that is not ISO 4217: delivered, with a warning.
grep -m1 '"eventName":"transactionAdded".*"currencyCode":"USD"' config/samples/capillary-events.jsonl |
  sed -e 's/"currencyCode":"USD"/"currencyCode":"US$"/' \
      -e 's/"eventId":"[^"]*"/"eventId":"check-observability-0001"/' |
  kcat -b "$broker" -t capillary.events -P
wait_for 90 "the extra event to settle" settled $((seeded + 1))
wait_for 30 "a reauth resend" has_series 'capillary_bridge_platform_resends_total{reason="reauth"}'
wait_for 30 "a transform warning" has_series capillary_bridge_transform_warnings_total
# Lag comes from librdkafka's statistics, every 5 s.
wait_for 30 "consumer lag" has_series capillary_bridge_consumer_lag

# Webhooks to dev's receiver (its banner: "webhook receiver : http://host:port/path"): every sample
# is produced (200), a wrong token is refused (401), a body that is not JSON rejected (400).
webhook=$(sed -n 's/^ *webhook receiver *: *\(http[^ ]*\).*/\1/p' "$work/dev.err")
[ -n "$webhook" ] ||
  { echo "check-observability: dev names no webhook receiver (a binary without it? tools/build.sh):" >&2; cat "$work/dev.err" >&2; exit 1; }
echo "== webhooks to $webhook" >&2
posted=0
while IFS= read -r line || [ -n "$line" ]; do
  [ -n "$line" ] || continue
  expect_post 200 "$webhook" "$token" "$line" "sample webhook $((posted + 1))"
  posted=$((posted + 1))
done <config/samples/capillary-events.jsonl
expect_post 401 "$webhook" "not-$token" "$(head -n 1 config/samples/capillary-events.jsonl)" "a webhook with a wrong token"
expect_post 400 "$webhook" "$token" "this is not JSON" "a webhook that is not JSON"
wait_for 90 "the $posted webhook events to settle" settled $((seeded + 1 + posted))

echo "== capillary-bridge receive with its broker down (webhooks on 127.0.0.1:$rx_port)" >&2
CAPILLARY_BRIDGE_DEV_BROKERS="127.0.0.1:$dead_broker" CAPILLARY_BRIDGE_DEV_RECEIVER="127.0.0.1:$rx_port" \
  CAPILLARY_BRIDGE_DEV_METRICS="127.0.0.1:$rx_metrics" CAPILLARY_BRIDGE_DEV_WEBHOOK_TOKEN=$token \
  "$bin" receive -c config/dev.yaml >"$work/receive.out" 2>"$work/receive.err" &
rx_pid=$!
rx_up() {
  kill -0 "$rx_pid" 2>/dev/null ||
    { echo "check-observability: capillary-bridge receive exited; it said:" >&2; cat "$work/receive.err" >&2; exit 1; }
  curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$rx_metrics/healthz" 2>/dev/null
}
wait_for 60 "the broker-down receiver to serve /healthz" rx_up
rx_ready=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$rx_metrics/readyz" || true)
[ "$rx_ready" = 503 ] ||
  { echo "check-observability: a receiver without its broker answers /readyz $rx_ready, not 503" >&2; exit 1; }
expect_post 503 "http://127.0.0.1:$rx_port/${webhook#http://*/}" "$token" \
  "$(head -n 1 config/samples/capillary-events.jsonl)" "a webhook to the receiver without its broker"
curl -fsS --max-time 5 "http://127.0.0.1:$rx_metrics/metrics" >"$work/receive-metrics.txt"
grep -q '^capillary_bridge_receiver_refused_total{reason="broker-down"}' "$work/receive-metrics.txt" ||
  { echo "check-observability: the 503 is not counted as refused broker-down" >&2; exit 1; }

curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$port/healthz"
scrape
echo "scraped $(grep -vc '^#' "$work/metrics.txt") series of $(grep -c '^# TYPE' "$work/metrics.txt") families" >&2

prom_ready() { curl -fsS --max-time 2 "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1; }
prom_has() {
  curl -fsS --max-time 2 "http://127.0.0.1:$prom_port/api/v1/query" \
    --data-urlencode "query=$1" 2>/dev/null | grep -q '"result":\[{'
}
wait_for 60 "Prometheus to start" prom_ready
wait_for 30 "Prometheus to scrape the lag" prom_has capillary_bridge_consumer_lag
wait_for 30 "Prometheus to scrape the refused webhook" prom_has capillary_bridge_receiver_refused_total
# A few more scrapes and rule evaluations over the final state.
sleep 3
build/tools/stack-check queries -dashboard "$dashboard" -prometheus "http://127.0.0.1:$prom_port" \
  -rules "$(grep -c '^ *- alert:' "$rules")"
kill -TERM "$prom_pid"
wait "$prom_pid" || true
prom_pid=""

kill -TERM "$rx_pid"
rc=0
wait "$rx_pid" || rc=$?
rx_pid=""
[ "$rc" = 0 ] || { echo "check-observability: receive exited $rc on SIGTERM" >&2; cat "$work/receive.err" >&2; exit 1; }

kill -TERM "$dev_pid"
rc=0
wait "$dev_pid" || rc=$?
dev_pid=""
[ "$rc" = 0 ] || { echo "check-observability: dev exited $rc on SIGTERM" >&2; cat "$work/dev.err" >&2; exit 1; }

build/tools/stack-check metrics -dashboard "$dashboard" -rules "$rules" \
  -rule-tests deploy/prometheus/alerts.test.yaml -scrape "$work/metrics.txt,$work/receive-metrics.txt" \
  -docs docs/metrics.md -allow "$ALLOW"
echo "check-observability: ok" >&2

// The webhook receiver's throughput and answer latency: a real Apache Kafka broker (KRaft,
// loopback), `capillary-bridge receive` as a child process, and N keep-alive libcurl connections
// POSTing one Capillary event each (~`--size` bytes, default 1000) and waiting for the answer, as
// Capillary's ENS does. Every answer is a 200 only once the broker acknowledged (acks=all,
// idempotent producer), so the latency is HTTP + produce + replication ack.
//
// For each connection count (default 1, 16, 64) it prints requests/s, answer latency p50/p99/max,
// the receiver's CPU seconds per million requests (utime+stime from /proc/<pid>/stat over the
// run) and its peak RSS. Not a test: no pass/fail; numbers go in the README and closing notes.
//
// Flags: --requests N (per connection count; default 20000), --connections 1,16,64,
//        --size BYTES, --partitions P (default 6), --linger-ms MS (receiver.properties linger.ms)

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "tests/harness/bridge.h"
#include "tests/harness/kafka_broker.h"
#include "tests/harness/process.h"
#include "tests/harness/webhook.h"

namespace {

using namespace bridge::harness;  // NOLINT(google-build-using-namespace): a bench main
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string string_arg(int argc, char** argv, const char* name, std::string fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == name) {
      return argv[i + 1];
    }
  }
  return fallback;
}

double percentile(std::vector<std::chrono::microseconds>& v, double p) {
  if (v.empty()) {
    return 0;
  }
  const auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at), v.end());
  return static_cast<double>(v[at].count()) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  ::setenv("BRIDGE_SOURCE_DIR", BRIDGE_SOURCE_DIR, 0);
  ::setenv("BRIDGE_BINARY_DIR", BRIDGE_BINARY_DIR, 0);
  const auto requests = std::stoull(string_arg(argc, argv, "--requests", "20000"));
  const auto size = std::stoull(string_arg(argc, argv, "--size", "1000"));
  const int partitions = std::stoi(string_arg(argc, argv, "--partitions", "6"));
  const std::string linger = string_arg(argc, argv, "--linger-ms", "");
  std::vector<int> connections;
  {
    std::stringstream list(string_arg(argc, argv, "--connections", "1,16,64"));
    for (std::string item; std::getline(list, item, ',');) {
      connections.push_back(std::stoi(item));
    }
  }

  KafkaBroker broker;
  broker.start();
  const TempDir dir("capillary-receiver-bench");
  const std::uint16_t port = free_port();
  write_file(dir.file("tokens"), "bench-token\n");

  std::printf("receiver bench: %llu requests of ~%llu B per run, %d partitions, broker %s\n",
              static_cast<unsigned long long>(requests), static_cast<unsigned long long>(size),
              partitions, broker.bootstrap().c_str());
  std::printf("%-12s %10s %9s %9s %9s %14s %9s\n", "connections", "req/s", "p50 ms", "p99 ms",
              "max ms", "CPU s/M req", "RSS MiB");
  int run = 0;
  for (const int conns : connections) {
    const std::string topic = fmt::format("bench.webhooks.{}", run++);
    broker.create_topic(topic, partitions);
    BridgeConfig cfg;
    cfg.command = {"receive"};
    cfg.brokers = broker.bootstrap();
    cfg.topics = {topic};
    cfg.dlq_topic = topic + ".dlq";
    cfg.sink_path = dir.file("unused.ndjson");
    cfg.log_level = "warn";
    cfg.extra_yaml = fmt::format(
        "receiver:\n  listen: 127.0.0.1:{}\n{}  paths:\n    - path: /capillary/events\n"
        "      auth: {{tokens_file: {}}}\n",
        port, linger.empty() ? "" : fmt::format("  properties: {{linger.ms: \"{}\"}}\n", linger),
        yaml_quote(dir.file("tokens")));
    BridgeProcess rx(dir, fmt::format("receiver-{}", conns), cfg);
    rx.start();
    if (!wait_until(
            [&] { return http_get("127.0.0.1", rx.metrics_port(), "/readyz").status == 200; },
            seconds(30))) {
      std::fprintf(stderr, "receiver not ready:\n%s\n", rx.log_tail().c_str());
      return 1;
    }
    LoadOptions load;
    load.url = fmt::format("http://127.0.0.1:{}/capillary/events", port);
    load.auth = "Authorization: Bearer bench-token";
    load.connections = conns;
    load.events = requests;
    load.customers = std::max<std::uint64_t>(1000, static_cast<std::uint64_t>(conns));
    load.pad_to = size;
    const double cpu_before = cpu_seconds(rx.pid());
    LoadResult r = run_load(load);
    const double cpu = cpu_seconds(rx.pid()) - cpu_before;
    const long rss = peak_rss_kib(rx.pid());
    const std::uint64_t ok = r.acknowledged.size();
    std::printf(
        "%-12d %10.0f %9.2f %9.2f %9.2f %14.1f %9.1f%s\n", conns,
        static_cast<double>(ok) / r.seconds, percentile(r.latencies, 0.50),
        percentile(r.latencies, 0.99), percentile(r.latencies, 1.0),
        cpu / static_cast<double>(ok) * 1e6, static_cast<double>(rss) / 1024.0,
        ok == r.sent ? "" : fmt::format("  ({} of {} not 200)", r.sent - ok, r.sent).c_str());
    std::fflush(stdout);
    (void)rx.stop(seconds(30));
  }
  return 0;
}

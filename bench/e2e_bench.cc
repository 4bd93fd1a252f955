// End-to-end benchmark: a real Apache Kafka broker (KRaft, loopback) → `capillary-bridge run`
// (passthrough, or with --transform capillary the built-in catalogue, → file sink) and, as the
// ceiling, kcat consuming the same topic.
//
//   phase 1 (throughput): N events (~1 KB, transactionAdded) are produced first; the bridge
//     starts with the backlog and is timed until every event is in the sink file. Prints
//     events/s and MB/s (from the first output line to the last, and including start-up) and
//     the bridge's peak RSS (VmHWM).
//   phase 2 (latency): with the bridge caught up, events are produced at a fixed rate, each
//     carrying its send time; the sink file is followed and the Kafka-append-to-sink latency
//     percentiles are printed.
//
// With --sink platform the bridge runs the catalogue into the Platform sink against the
// emulator (bridge::emulator::Server, in this process, with IMS auth on): phase 1 also prints
// the emulator's request count, mean messages and bytes per request and the bridge's CPU seconds
// per million events; phase 2 measures Kafka append -> emulator receipt (receipt times come from
// polling the emulator's accepted-message counter every millisecond; the accepted log is in
// arrival order).
//
// Not a test: no pass/fail. Flags: --events N --partitions P --rate R --seconds S
// --transform passthrough|capillary (default passthrough; capillary emits one ExperienceEvent per
// transactionAdded)
// --sink file|platform (default file; platform implies --transform capillary)
// --platform-rate M (sink.platform.rate_limit.messages_per_second; default 1000000, i.e. off)
// --prefetch-mib M (kafka.prefetch_bytes; default: the bridge's default), --workers N|auto
// (pipeline.workers), --kafka-property K=V
// (repeatable; librdkafka properties for the bridge's consumer).

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bridge/emulator/server.h"
#include "tests/harness/bridge.h"
#include "tests/harness/emulator.h"
#include "tests/harness/kafka_broker.h"
#include "tests/harness/process.h"

namespace {

using bridge::harness::BridgeConfig;
using bridge::harness::ChildOptions;
using bridge::harness::ChildProcess;
using bridge::harness::cpu_seconds;
using bridge::harness::KafkaBroker;
using bridge::harness::NdjsonFollower;
using bridge::harness::peak_rss_kib;
using bridge::harness::ProduceMessage;
using bridge::harness::TempDir;
using Clock = std::chrono::steady_clock;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A ~1 KB transactionAdded event in the flat (E1) envelope; `sent_us` is the producer's clock.
std::string event(std::uint64_t i, std::int64_t sent_us) {
  std::string items;
  for (int k = 0; k < 4; ++k) {
    items += fmt::format(
        R"({}{{"itemCode":"SKU-{}","description":"Item {} of bill {}","qty":{},"rate":{}.50,)"
        R"("value":{}.00,"discountValue":0,"amount":{}.00,"attributes":[{{"name":"brand",)"
        R"("value":"Acme"}}]}})",
        k ? "," : "", 1000 + (i + static_cast<std::uint64_t>(k)) % 5000, k, i, 1 + k, 100 + k,
        200 + k, 200 + k);
  }
  return fmt::format(
      R"({{"eventName":"transactionAdded","eventId":"bench-{}-{}","orgId":50001,)"
      R"("createdAt":"2026-01-15T10:20:30.123+05:30","data":{{)"
      R"("customerIdentifiers":{{"customerId":{},"instore":{{"mobile":"9190000{:05}"}}}},)"
      R"("transactionId":{},"billNumber":"B-{}","amount":1234.50,"currencyCode":"INR",)"
      R"("enteredBy":{{"store":{{"code":"store.{}"}}}},"lineItems":[{}]}}}})",
      i, sent_us, 555000000 + i % 100000, i % 100000, 900000000000 + i, i, i % 97, items);
}

// The send time travels in the eventId ("bench-<i>-<sent_us>"), which both the passthrough
// output and the catalogue's tenant object carry.
std::int64_t sent_us_of(std::string_view line) {
  constexpr std::string_view kKey = R"("eventId":"bench-)";
  const auto at = line.find(kKey);
  if (at == std::string_view::npos) {
    return -1;
  }
  const auto dash = line.find('-', at + kKey.size());
  return dash == std::string_view::npos ? -1 : std::atoll(line.data() + dash + 1);
}

std::string string_arg(int argc, char** argv, const char* name, std::string fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == name) {
      return argv[i + 1];
    }
  }
  return fallback;
}

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::int64_t arg(int argc, char** argv, const char* name, std::int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == name) {
      return std::atoll(argv[i + 1]);
    }
  }
  return fallback;
}

// kcat reading the whole topic to /dev/null: librdkafka's own consume rate on this machine.
// `out` is where kcat writes each payload and a newline: /dev/null for the consume rate alone, a
// file beside the bridge's sink file for the same write cost the file sink pays.
double kcat_seconds(const std::string& bootstrap, const std::string& topic, const TempDir& dir,
                    const std::string& out) {
  const auto start = Clock::now();
  ChildOptions options;
  options.args = {"kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"};
  options.stdout_path = out;
  options.stderr_path = dir.file("kcat.err");
  ChildProcess kcat(options);
  if (!kcat.wait(std::chrono::minutes(10)) || !kcat.status()->exited || kcat.status()->code != 0) {
    std::fprintf(stderr, "kcat failed: %s\n", kcat.stderr_tail().c_str());
    return -1;
  }
  return seconds(Clock::now() - start);
}

}  // namespace

int main(int argc, char** argv) {
  ::setenv("BRIDGE_SOURCE_DIR", BRIDGE_SOURCE_DIR, 0);
  ::setenv("BRIDGE_BINARY_DIR", BRIDGE_BINARY_DIR, 0);
  const auto n = static_cast<std::uint64_t>(arg(argc, argv, "--events", 500000));
  const int partitions = static_cast<int>(arg(argc, argv, "--partitions", 6));
  const std::int64_t rate = arg(argc, argv, "--rate", 5000);
  const std::int64_t latency_seconds = arg(argc, argv, "--seconds", 10);

  KafkaBroker broker;
  broker.start();
  const std::string topic = "bench.events";
  broker.create_topic(topic, partitions);
  broker.create_topic("bench.dlq", 1, {{"max.message.bytes", "4194304"}});

  std::uint64_t bytes = 0;
  {
    std::vector<ProduceMessage> batch;
    for (std::uint64_t i = 0; i < n; ++i) {
      batch.push_back({fmt::format("customer-{}", i % 100000), event(i, 0), {}});
      bytes += batch.back().value.size();
      if (batch.size() == 50000 || i + 1 == n) {
        broker.produce(topic, batch);
        batch.clear();
      }
    }
  }
  std::printf("backlog: %llu events, %.1f MB, %d partitions, avg %.0f B/event\n",
              static_cast<unsigned long long>(n), static_cast<double>(bytes) / 1e6, partitions,
              static_cast<double>(bytes) / static_cast<double>(n));

  TempDir dir("capillary-bench");
  const double null_s = kcat_seconds(broker.bootstrap(), topic, dir, "/dev/null");
  const double kcat_s = kcat_seconds(broker.bootstrap(), topic, dir, dir.file("kcat.ndjson"));
  for (const auto& [what, s] :
       {std::pair{"kcat -> /dev/null", null_s}, std::pair{"kcat -> file (ceiling)", kcat_s}}) {
    if (s > 0) {
      std::printf("%s: %.0f events/s, %.1f MB/s (%.2f s)\n", what, static_cast<double>(n) / s,
                  static_cast<double>(bytes) / 1e6 / s, s);
    }
  }
  std::remove(dir.file("kcat.ndjson").c_str());

  BridgeConfig cfg;
  cfg.brokers = broker.bootstrap();
  cfg.topics = {topic};
  cfg.dlq_topic = "bench.dlq";
  cfg.group_id = "bench";
  cfg.sink_path = dir.file("sink.ndjson");
  cfg.metrics_listen = fmt::format("127.0.0.1:{}", bridge::harness::free_port());
  cfg.commit_interval_ms = 1000;
  cfg.log_level = "warn";
  const std::string config_path = dir.file("bridge.yaml");
  std::string transform = "passthrough";
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--transform") {
      transform = argv[i + 1];
    }
  }
  const std::string sink = string_arg(argc, argv, "--sink", "file");
  std::unique_ptr<bridge::emulator::Server> emulator;
  if (sink == "platform") {
    transform = "capillary";  // Platform takes XDM only
    bridge::emulator::Options options;
    options.listen = "127.0.0.1:0";
    // Kept so phase 2 can read each message's send time; cleared after phase 1.
    options.keep_messages = true;
    auto server = bridge::emulator::Server::start(options);
    if (!server) {
      std::fprintf(stderr, "emulator: %s\n", server.error().message.c_str());
      return 1;
    }
    emulator = std::move(*server);
    bridge::harness::PlatformSinkSettings settings;
    settings.inlet_url =
        emulator->base_url() +
        "/collection/d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2";
    settings.token_url = emulator->base_url() + "/ims/token/v3";
    settings.client_id = options.client_id;
    settings.client_secret = options.client_secret;
    settings.messages_per_second = arg(argc, argv, "--platform-rate", 1000000);
    settings.requests_per_second = 100000;
    cfg.sink_yaml = settings.to_yaml();
    std::printf("sink: platform (emulator at %s, rate limit %lld messages/s)\n",
                emulator->base_url().c_str(),
                static_cast<long long>(*settings.messages_per_second));
  } else if (sink != "file") {
    std::fprintf(stderr, "--sink: file or platform\n");
    return 2;
  }
  if (emulator) {
    // Platform targets need a dataset and schema.
    cfg.targets_and_routes_yaml = bridge::harness::capillary_routes_yaml({topic});
  } else if (transform == "capillary") {
    cfg.targets_and_routes_yaml =
        "targets:\n  events: {}\n\nroutes:\n  - transform: capillary\n    settings:\n"
        "      tenant: acme\n      targets: {experience_event: events}\n";
  } else if (transform != "passthrough") {
    std::fprintf(stderr, "--transform: passthrough or capillary\n");
    return 2;
  }
  std::printf("transform: %s\n", transform.c_str());
  std::string yaml = cfg.to_yaml();
  if (const auto prefetch = arg(argc, argv, "--prefetch-mib", 0); prefetch > 0) {
    const auto at = yaml.find("kafka:\n");
    yaml.insert(at + 7, fmt::format("  prefetch_bytes: {}MiB\n", prefetch));
  }
  if (const auto inflight = arg(argc, argv, "--inflight-mib", 0); inflight > 0) {
    const auto at = yaml.find("pipeline:\n");
    if (at == std::string::npos) {
      yaml += fmt::format("pipeline:\n  max_inflight_bytes: {}MiB\n", inflight);
    } else {
      yaml.insert(at + 10, fmt::format("  max_inflight_bytes: {}MiB\n", inflight));
    }
  }
  if (const auto workers = string_arg(argc, argv, "--workers", ""); !workers.empty()) {
    const auto at = yaml.find("pipeline:\n");
    if (at == std::string::npos) {
      yaml += fmt::format("pipeline:\n  workers: {}\n", workers);
    } else {
      yaml.insert(at + 10, fmt::format("  workers: {}\n", workers));
    }
    std::printf("pipeline.workers: %s\n", workers.c_str());
  }
  std::string props;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--kafka-property") {
      const std::string kv = argv[i + 1];
      const auto eq = kv.find('=');
      props += fmt::format("{}\"{}\": \"{}\"", props.empty() ? "" : ", ", kv.substr(0, eq),
                           kv.substr(eq + 1));
    }
  }
  if (!props.empty()) {
    yaml.insert(yaml.find("kafka:\n") + 7, fmt::format("  properties: {{{}}}\n", props));
  }
  std::ofstream(config_path) << yaml;

  const auto started = Clock::now();
  ChildOptions bridge_options;
  bridge_options.args = {bridge::harness::bridge_binary(), "run", "-c", config_path};
  bridge_options.stderr_path = dir.file("bridge.err");
  ChildProcess bridge(bridge_options);
  NdjsonFollower follower(cfg.sink_path);
  std::vector<std::string> lines;
  std::uint64_t seen = 0;
  Clock::time_point first;
  while (seen < n) {
    std::uint64_t got = 0;
    if (emulator) {
      got = emulator->stats().messages_accepted - seen;
    } else {
      lines.clear();
      got = follower.poll(lines);
    }
    if (got > 0 && seen == 0) {
      first = Clock::now();
    }
    seen += got;
    if (!bridge.running()) {
      std::fprintf(stderr, "bridge exited early:\n%s\n", bridge.stderr_tail().c_str());
      return 1;
    }
    if (got == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  const auto done = Clock::now();
  const double steady_s = seconds(done - first);
  const double total_s = seconds(done - started);
  std::printf("bridge: %.0f events/s, %.1f MB/s steady (%.2f s); %.0f events/s incl. start-up\n",
              static_cast<double>(n) / steady_s, static_cast<double>(bytes) / 1e6 / steady_s,
              steady_s, static_cast<double>(n) / total_s);
  if (kcat_s > 0) {
    std::printf("bridge / kcat: %.0f%%\n", 100.0 * kcat_s / steady_s);
  }
  const double cpu_s = cpu_seconds(bridge.pid());
  std::printf(
      "bridge CPU: %.2f s (user+sys) for the backlog incl. start-up, %.1f s per million "
      "events\n",
      cpu_s, cpu_s / static_cast<double>(n) * 1e6);
  std::printf("bridge peak RSS after backlog: %.1f MiB\n",
              static_cast<double>(peak_rss_kib(bridge.pid())) / 1024.0);
  if (emulator) {
    // The last answer is counted by status just after its messages are counted as accepted.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto st = emulator->stats();
    std::string statuses;
    for (const auto& [status, count] : st.by_status) {
      statuses += fmt::format("{}{}: {}", statuses.empty() ? "" : ", ", status, count);
    }
    const auto batches = st.by_status.contains(207) ? st.by_status.at(207) : 0;
    std::printf(
        "emulator: %llu requests (%s), %.1f messages and %.0f bytes per request, %llu unique ids, "
        "%llu rejected\n",
        static_cast<unsigned long long>(st.requests), statuses.c_str(),
        static_cast<double>(st.messages_accepted) /
            static_cast<double>(std::max<std::uint64_t>(1, batches)),
        static_cast<double>(st.bytes_received) /
            static_cast<double>(std::max<std::uint64_t>(1, st.requests)),
        static_cast<unsigned long long>(st.unique_ids),
        static_cast<unsigned long long>(st.messages_rejected));
    emulator->clear();  // the bridge is caught up: phase 2 starts from an empty log
  }

  // Phase 2: paced production, latency from produce() to the line appearing in the sink.
  std::atomic<bool> producing{true};
  const std::uint64_t paced = static_cast<std::uint64_t>(rate * latency_seconds);
  std::thread producer([&] {
    const std::int64_t per_tick = std::max<std::int64_t>(1, rate / 100);  // every 10 ms
    auto next = Clock::now();
    std::uint64_t i = n;
    while (i < n + paced) {
      std::vector<ProduceMessage> batch;
      for (std::int64_t k = 0; k < per_tick && i < n + paced; ++k, ++i) {
        batch.push_back({fmt::format("customer-{}", i % 100000), event(i, now_us()), {}});
      }
      broker.produce(topic, batch);
      next += std::chrono::milliseconds(10);
      std::this_thread::sleep_until(next);
    }
    producing = false;
  });
  std::vector<std::int64_t> latencies;
  latencies.reserve(paced);
  const auto deadline = Clock::now() + std::chrono::seconds(latency_seconds + 60);
  if (emulator) {
    // (accepted count, when it was first seen): the i-th accepted message arrived at the first
    // mark whose count exceeds i (to within the 0.5 ms poll).
    std::vector<std::pair<std::uint64_t, std::int64_t>> marks;
    std::uint64_t last = 0;
    while (last < paced && Clock::now() < deadline) {
      const std::uint64_t c = emulator->stats().messages_accepted;
      if (c != last) {
        marks.emplace_back(c, now_us());
        last = c;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    const auto messages = emulator->accepted_messages();
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const auto mark =
          std::upper_bound(marks.begin(), marks.end(), static_cast<std::uint64_t>(i),
                           [](std::uint64_t index, const auto& m) { return index < m.first; });
      if (const auto sent = sent_us_of(messages[i]); sent > 0 && mark != marks.end()) {
        latencies.push_back(mark->second - sent);
      }
    }
  }
  while (!emulator && latencies.size() < paced && Clock::now() < deadline) {
    lines.clear();
    if (follower.poll(lines) == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
      continue;
    }
    const std::int64_t t = now_us();
    for (const auto& l : lines) {
      if (const auto sent = sent_us_of(l); sent > 0) {
        latencies.push_back(t - sent);
      }
    }
  }
  producer.join();
  std::sort(latencies.begin(), latencies.end());
  const auto pct = [&](double p) {
    if (latencies.empty()) {
      return 0.0;
    }
    const auto idx = static_cast<std::size_t>(p * static_cast<double>(latencies.size() - 1));
    return static_cast<double>(latencies[idx]) / 1000.0;
  };
  std::printf(
      "latency at %lld events/s for %lld s (%zu events): p50 %.1f ms, p90 %.1f ms, "
      "p99 %.1f ms, max %.1f ms\n",
      static_cast<long long>(rate), static_cast<long long>(latency_seconds), latencies.size(),
      pct(0.5), pct(0.9), pct(0.99), pct(1.0));
  std::printf("bridge peak RSS overall: %.1f MiB\n",
              static_cast<double>(peak_rss_kib(bridge.pid())) / 1024.0);
  bridge.kill(SIGTERM);
  const auto status = bridge.wait(std::chrono::seconds(60));
  std::printf("bridge exit: %s\n",
              status && status->exited ? std::to_string(status->code).c_str() : "did not exit");
  return 0;
}

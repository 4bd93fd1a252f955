#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "bridge/app/app.h"
#include "bridge/app/components.h"
#include "bridge/app/embedded.h"
#include "bridge/emulator/server.h"
#include "bridge/kafka/mock_cluster.h"
#include "bridge/kafka/producer.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/receiver/receiver.h"

namespace bridge::app {
namespace {

constexpr const char* kEventsTopic = "capillary.events";
constexpr const char* kDeadLetterTopic = "capillary.dlq";
// What the curl line dev prints posts: a catalogue event (badgeEarned) for a sample customer.
constexpr const char* kWebhookSample =
    R"({"eventName":"badgeEarned","eventId":"2f0e4c1a-7b3d-5e9f-8a6c-1d2e3f4a5b6c","orgId":50001,)"
    R"("createdAt":1740852000120,"data":{"customerIdentifiers":{"customerId":510000101},)"
    R"("badgeId":"65f1c0a9e4b0a1b2c3d4e5f6","earnId":"65f1c0b2e4b0a1b2c3d4e5f8",)"
    R"("earnedOn":1740852000070,"triggeringActivity":{"name":"TransactionAdd"}}})";

// Produces every non-empty line of `jsonl` and waits for the broker to acknowledge them all.
core::Result<std::uint64_t> seed(const config::KafkaConfig& cluster, std::string_view jsonl) {
  auto producer = kafka::Producer::create(cluster, cluster.brokers, {});
  if (!producer) {
    return tl::unexpected(producer.error());
  }
  std::uint64_t produced = 0;
  while (!jsonl.empty()) {
    const auto nl = jsonl.find('\n');
    const std::string_view line = jsonl.substr(0, nl);
    jsonl.remove_prefix(nl == std::string_view::npos ? jsonl.size() : nl + 1);
    if (line.empty()) {
      continue;
    }
    const std::string key = fmt::format("sample-{}", produced % 8);
    if (auto e = producer->produce(kEventsTopic, key, line, {}, produced);
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return core::fail(core::ErrorKind::fatal, "seed", rd_kafka_err2str(e));
    }
    ++produced;
  }
  if (!producer->flush(std::chrono::seconds(10))) {
    return core::fail(core::ErrorKind::fatal, "seed", "seeding the embedded broker timed out");
  }
  std::vector<kafka::DeliveryReport> reports;
  producer->poll(reports, std::chrono::milliseconds(0));
  for (const auto& r : reports) {
    if (r.error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return core::fail(core::ErrorKind::fatal, "seed", rd_kafka_err2str(r.error));
    }
  }
  return produced;
}

class Progress {
 public:
  Progress(const kafka::KafkaSource& source, const receiver::Receiver& receiver)
      : source_(source), receiver_(receiver), tty_(isatty(2) != 0) {}

  void update(const pipeline::Stats& s) {
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - last_).count();
    const double rate = dt > 0 ? static_cast<double>(s.consumed - last_consumed_) / dt : 0;
    last_ = now;
    last_consumed_ = s.consumed;
    const std::string line = fmt::format(
        "{:>9.0f} events/s | received {} | consumed {} | delivered {} | dead-lettered {} | "
        "in flight {} | lag {}",
        rate, receiver_.counts().events_produced, s.consumed, s.delivered, s.dead_lettered,
        s.inflight_records, source_.total_lag());
    if (tty_) {
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
    } else if (++ticks_ % 5 == 1) {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  }
  void finish() const {
    if (tty_) {
      std::fputc('\n', stderr);
    }
  }

 private:
  const kafka::KafkaSource& source_;
  const receiver::Receiver& receiver_;
  bool tty_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  std::uint64_t last_consumed_ = 0;
  std::uint64_t ticks_ = 0;
};

}  // namespace

int dev(const DevOptions& options) {
  block_stop_signals();
  auto cluster = kafka::MockCluster::start(1);
  if (!cluster) {
    std::fprintf(stderr, "error: %s\n", cluster.error().message.c_str());
    return kExitFailure;
  }
  for (const auto& [topic, partitions] :
       {std::pair{kEventsTopic, options.partitions}, std::pair{kDeadLetterTopic, 1}}) {
    if (auto r = (*cluster)->create_topic(topic, partitions); !r) {
      std::fprintf(stderr, "error: %s\n", r.error().message.c_str());
      return kExitFailure;
    }
  }
  // The Platform side: IMS and streaming ingestion, in-process, on a free loopback port.
  emulator::Options emulator_options;
  emulator_options.listen = options.emulator_listen;
  auto platform = emulator::Server::start(emulator_options);
  if (!platform) {
    std::fprintf(stderr, "error: platform emulator: %s\n", platform.error().message.c_str());
    return kExitFailure;
  }
  ::setenv("CAPILLARY_BRIDGE_DEV_BROKERS", (*cluster)->bootstrap().c_str(), 1);
  ::setenv("CAPILLARY_BRIDGE_DEV_PLATFORM", (*platform)->base_url().c_str(), 1);
  ::setenv("CAPILLARY_BRIDGE_DEV_METRICS", options.metrics_listen.c_str(), 1);
  ::setenv("CAPILLARY_BRIDGE_DEV_RECEIVER", options.receiver_listen.c_str(), 1);
  // The first load (for `platform setup`) leaves the secrets' variables in the environment for
  // the second, which removes them.
  const auto load = [](bool scrub_secret_env) {
    return load_and_validate(config::load_string(std::string(embedded::dev_config()),
                                                 "config/dev.yaml (embedded)", config::Scope::all,
                                                 scrub_secret_env));
  };
  // As in production: `platform setup` against the (embedded) Platform first, then stream with
  // the ids it created (dev.yaml reads them from CAPILLARY_BRIDGE_DEV_*).
  std::string created;
  {
    const auto first = load(false);
    if (!first) {
      return kExitConfig;
    }
    init_logging(first->config.log);
    std::ostringstream plan;
    auto setup = run_platform_setup(*first, plan);
    if (!setup) {
      std::fprintf(stderr, "%serror: platform setup: %s\n", plan.str().c_str(),
                   setup.error().message.c_str());
      return kExitFailure;
    }
    for (const auto& [name, ids] : setup->targets) {
      std::string upper = name;
      std::transform(upper.begin(), upper.end(), upper.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      ::setenv(("CAPILLARY_BRIDGE_DEV_" + upper + "_DATASET").c_str(), ids.dataset_id.c_str(), 1);
      ::setenv(("CAPILLARY_BRIDGE_DEV_" + upper + "_SCHEMA").c_str(), ids.schema_ref.c_str(), 1);
      ::setenv(("CAPILLARY_BRIDGE_DEV_" + upper + "_FLOW").c_str(), ids.flow_id.c_str(), 1);
    }
    const std::string inlet = setup->inlet_url.substr(setup->inlet_url.rfind('/') + 1);
    ::setenv("CAPILLARY_BRIDGE_DEV_INLET_ID", inlet.c_str(), 1);
    created = fmt::format(
        "{} objects (namespaces, field group, 2 schemas, 2 datasets, inlet {}…, 2 dataflows)",
        setup->created, inlet.substr(0, 12));
  }
  const auto validated = load(true);
  if (!validated) {
    return kExitConfig;
  }
  const config::Config& cfg = validated->config;

  std::fprintf(stderr,
               "capillary-bridge dev\n"
               "  embedded Kafka broker : %s (topics %s, %s)\n"
               "  produce more events   : kcat -b %s -t %s -P\n"
               "  platform emulator     : %s (stats: %s/emulator/stats)\n"
               "  platform setup        : %s\n"
               "  accepted messages     : %s (NDJSON)\n"
               "  metrics               : http://%s/metrics\n",
               (*cluster)->bootstrap().c_str(), kEventsTopic, kDeadLetterTopic,
               (*cluster)->bootstrap().c_str(), kEventsTopic, (*platform)->base_url().c_str(),
               (*platform)->base_url().c_str(), created.c_str(), options.output.c_str(),
               options.metrics_listen.c_str());

  std::uint64_t seeded = 0;
  for (auto jsonl : {embedded::sample_events(), embedded::malformed_samples()}) {
    auto n = seed(cfg.kafka, jsonl);
    if (!n) {
      std::fprintf(stderr, "error: %s\n", n.error().message.c_str());
      return kExitFailure;
    }
    seeded += *n;
  }
  std::fprintf(stderr, "  seeded                : %llu sample events (some malformed on purpose)\n",
               static_cast<unsigned long long>(seeded));

  auto service = start_service(*validated, /*check_dead_letter_topic=*/false,
                               /*with_receiver=*/true);
  if (!service) {
    std::fprintf(stderr, "error: %s\n", service.error().message.c_str());
    return kExitFailure;
  }
  const receiver::Receiver& receiver = *(*service)->receiver;
  // The token: the shell expands the variable dev.yaml reads, so a token set there is not printed.
  std::fprintf(stderr,
               "  webhook receiver      : %s%s\n"
               "  post an event         : curl -sS %s%s -H \"Authorization: Bearer "
               "${CAPILLARY_BRIDGE_DEV_WEBHOOK_TOKEN:-dev-webhook-token}\" -H 'Content-Type: "
               "application/json' -d '%s'\n",
               receiver.base_url().c_str(), cfg.receiver.paths.front().path.c_str(),
               receiver.base_url().c_str(), cfg.receiver.paths.front().path.c_str(),
               kWebhookSample);
  pipeline::Pipeline& pipeline = *(*service)->pipeline;
  Progress progress(*(*service)->parts.source, receiver);
  // What Platform accepted, rewritten whenever it grows (dev data sets are small).
  std::uint64_t dumped = 0;
  bool output_failed = false;  // the last attempt to write options.output failed
  const auto dump = [&] {
    const auto accepted = (*platform)->stats().messages_accepted;
    if (accepted == dumped || options.output == "-") {
      return;
    }
    output_failed = !(*platform)->dump_ndjson(options.output);
    if (output_failed) {
      spdlog::warn("cannot write {}", options.output);
    }
    dumped = accepted;
  };
  pipeline.set_tick([&](const pipeline::Stats& s) {
    progress.update(s);
    dump();
    if (options.exit_when_done &&
        s.delivered + s.dead_lettered + s.filtered >= seeded + receiver.counts().events_produced) {
      pipeline.request_stop();
    }
  });
  const auto result = run_until_stopped(**service);
  progress.finish();
  dump();
  if (options.output == "-") {
    for (const auto& m : (*platform)->accepted_messages()) {
      std::fwrite(m.data(), 1, m.size(), stdout);
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
  }
  const auto ps = (*platform)->stats();
  const auto s = pipeline.stats();
  std::string reasons;
  for (const auto& [reason, count] : s.dead_letter_reasons) {
    reasons += fmt::format("{}{} {}", reasons.empty() ? "" : ", ", reason, count);
  }
  std::fprintf(
      stderr,
      "summary: consumed %llu, delivered %llu, dead-lettered %llu%s (topic %s), "
      "filtered %llu, sink retries %llu\n"
      "platform: %llu requests, %llu messages accepted (%llu unique _id, %llu profile records), "
      "%llu refused\n",
      static_cast<unsigned long long>(s.consumed), static_cast<unsigned long long>(s.delivered),
      static_cast<unsigned long long>(s.dead_lettered),
      reasons.empty() ? "" : fmt::format(" [{}]", reasons).c_str(), kDeadLetterTopic,
      static_cast<unsigned long long>(s.filtered), static_cast<unsigned long long>(s.retries),
      static_cast<unsigned long long>(ps.requests),
      static_cast<unsigned long long>(ps.messages_accepted),
      static_cast<unsigned long long>(ps.unique_ids),
      static_cast<unsigned long long>(ps.accepted_without_id),
      static_cast<unsigned long long>(ps.messages_rejected));
  if (output_failed && result) {
    // Asked for a file and did not get it: not a clean run (a read-only working directory).
    spdlog::error(
        "dev: the accepted messages could not be written to {}: use --output - (stdout) "
        "or a writable directory",
        options.output);
    return kExitFailure;
  }
  return exit_status(result);
}

}  // namespace bridge::app

// `capillary-bridge redrive`: dead letters back through the current routes and sink.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "bridge/app/app.h"
#include "bridge/app/components.h"
#include "bridge/kafka/dead_letter_writer.h"
#include "bridge/kafka/kafka_source.h"
#include "bridge/kafka/topic_offsets.h"
#include "bridge/redrive/dry_run.h"
#include "bridge/redrive/letter_source.h"
#include "bridge/redrive/tally.h"

namespace bridge::app {
namespace {

constexpr std::chrono::seconds kOffsetsTimeout{15};
constexpr std::chrono::seconds kProgressEvery{5};

// --since/--until into the selection; every problem printed.
std::optional<redrive::Selection> selection_from(const RedriveOptions& o) {
  redrive::Selection s;
  s.reasons = o.reasons;
  if (o.limit > 0) {
    s.limit = o.limit;
  }
  const auto now = std::chrono::system_clock::now();
  bool ok = true;
  for (auto [flag, text, into] : {std::tuple{"--since", &o.since, &s.since_ms},
                                  std::tuple{"--until", &o.until, &s.until_ms}}) {
    if (text->empty()) {
      continue;
    }
    auto t = redrive::parse_time(*text, now);
    if (!t) {
      std::fprintf(stderr, "%s: %s\n", flag, t.error().message.c_str());
      ok = false;
    } else {
      *into = *t;
    }
  }
  if (ok && s.since_ms && s.until_ms && *s.since_ms > *s.until_ms) {
    std::fprintf(stderr, "--since is after --until: nothing could be selected\n");
    ok = false;
  }
  return ok ? std::optional(std::move(s)) : std::nullopt;
}

}  // namespace

int redrive(const RedriveOptions& options) {
  auto selection = selection_from(options);
  if (!selection) {
    return kExitConfig;
  }
  auto validated =
      start_command(options.config_path, options.dry_run ? "redrive (dry run)" : "redrive");
  if (!validated) {
    return kExitConfig;
  }
  config::Config& cfg = validated->config;
  const std::string topic = options.topic.empty() ? cfg.dead_letter.topic : options.topic;
  const std::string group = options.group.empty() ? cfg.kafka.group_id + ".redrive" : options.group;
  // Letters that fail again go back where they were read from.
  cfg.dead_letter.topic = topic;
  const std::string brokers = cfg.dead_letter.brokers;  // empty: kafka.brokers

  const auto began = std::chrono::steady_clock::now();
  auto offsets = kafka::topic_offsets(cfg.kafka, brokers, topic, group, kOffsetsTimeout);
  if (!offsets) {
    spdlog::critical("redrive: {}", offsets.error().message);
    return offsets.error().kind == core::ErrorKind::permanent ? kExitConfig : kExitFailure;
  }
  std::map<std::int32_t, redrive::Range> ranges;
  std::int64_t letters = 0;
  for (const auto& p : *offsets) {
    ranges[p.partition] = {p.start(), p.high};
    letters += std::max<std::int64_t>(0, p.high - p.start());
  }
  spdlog::info(
      "redrive: {} letter(s) to read on '{}' for group '{}' ({} partition(s)); "
      "selection: reasons {}, since {}, until {}, limit {}",
      letters, topic, group, ranges.size(),
      selection->reasons.empty() ? "any" : fmt::format("{}", fmt::join(selection->reasons, ",")),
      options.since.empty() ? "-" : options.since, options.until.empty() ? "-" : options.until,
      selection->limit ? std::to_string(*selection->limit) : "-");

  metrics::Metrics metrics;
  redrive::Tally counted(options.dry_run ? nullptr : &metrics);
  core::Result<void> result;
  bool finished = letters == 0;
  if (letters > 0) {
    // The consumer reads the dead-letter topic in the redrive group, from the start of the log
    // for a group that has never run.
    cfg.kafka.topics = {topic};
    cfg.kafka.topic_regex.clear();
    cfg.kafka.group_id = group;
    cfg.kafka.auto_offset_reset = "earliest";
    auto consumer = kafka::KafkaSource::create(cfg.kafka, metrics, brokers);
    if (!consumer) {
      spdlog::critical("redrive: {}", consumer.error().message);
      return kExitFailure;
    }
    std::unique_ptr<sink::Sink> sink;
    std::unique_ptr<deadletter::Writer> writer;
    if (options.dry_run) {
      sink = std::make_unique<redrive::DrySink>();
      writer = std::make_unique<redrive::DryWriter>();
    } else {
      auto dl = kafka::DeadLetterWriter::create(cfg.kafka, cfg.dead_letter, true);
      if (!dl) {
        spdlog::critical("redrive: {}", dl.error().message);
        return dl.error().kind == core::ErrorKind::permanent ? kExitConfig : kExitFailure;
      }
      writer = std::move(*dl);
      auto s = make_sink(cfg, metrics);
      if (!s) {
        spdlog::critical("redrive: {}", s.error().message);
        return kExitFailure;
      }
      sink = std::move(*s);
    }
    redrive::LetterSource source(**consumer, *selection, ranges, options.dry_run);
    pipeline::Pipeline pipeline({source, *sink, *writer, metrics, validated->plan}, cfg.pipeline);
    pipeline.set_settled_hook(
        [&counted](const core::RecordView& record, pipeline::Settled how, std::string_view reason) {
          counted.settled(record, how, reason);
        });
    auto progress_at = std::chrono::steady_clock::now() + kProgressEvery;
    pipeline.set_tick([&](const pipeline::Stats& s) {
      if (source.done() && s.inflight_records == 0) {
        finished = true;
        pipeline.request_stop();
      }
      if (const auto now = std::chrono::steady_clock::now(); now >= progress_at) {
        progress_at = now + kProgressEvery;
        const auto t = counted.total();
        spdlog::info(
            "redrive: {} letter(s) settled ({} delivered, {} failed again, {} passed "
            "over), {} in flight, {} left to read",
            t.letters, t.delivered, t.failed, t.passed_over + t.not_redrivable, s.inflight_records,
            source.remaining());
      }
    });
    std::unique_ptr<metrics::HttpServer> http;
    if (!options.dry_run) {
      const std::string listen =
          options.metrics_listen.empty() ? cfg.metrics.listen : options.metrics_listen;
      auto started = metrics::HttpServer::start(listen, metrics,
                                                {[&pipeline] { return pipeline.healthy(); },
                                                 [&pipeline] { return pipeline.ready(); },
                                                 {}});
      if (started) {
        http = std::move(*started);
        spdlog::info("redrive: metrics on http://{}/metrics", listen);
      } else {
        // A service on the same host may hold the port: the letters matter more than the
        // endpoint.
        spdlog::warn("redrive: no metrics endpoint ({}); use --metrics-listen",
                     started.error().message);
      }
    }
    result = run_until_stopped(pipeline, *writer);
  }

  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::cout << fmt::format(
      "{}redrive of '{}' as group '{}' in {:.1f} s{}\n", options.dry_run ? "dry run: " : "", topic,
      group, took, options.dry_run ? " (nothing sent, nothing written, no offsets moved)" : "");
  counted.print(std::cout, options.dry_run);
  std::cout.flush();
  if (!result) {
    const int status = exit_status(result);
    spdlog::critical("redrive: {}", result.error().message);
    return status;
  }
  if (!finished) {
    spdlog::warn("redrive: stopped before the end; run it again to go on from where it stopped");
    return kExitUndelivered;
  }
  return kExitOk;
}

}  // namespace bridge::app

#include "bridge/app/components.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>

#include "bridge/app/app.h"
#include "bridge/core/fatal.h"
#include "bridge/kafka/dead_letter_writer.h"
#include "bridge/kafka/kafka_sink.h"
#include "bridge/platform/sink.h"
#include "bridge/sink/file_sink.h"
#include "transforms/api/registry.h"
#include "transforms/builtin/builtin.h"
#include "transforms/xdm/message.h"

namespace bridge::app {
namespace {

// %* in a pattern: the log message as the inside of a JSON string.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    for (const char c : text) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        dest.push_back('\\');
        dest.push_back(c);
      } else if (u < 0x20) {
        fmt::format_to(std::back_inserter(dest), "\\u{:04x}", u);
      } else {
        dest.push_back(c);
      }
    }
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

std::optional<Validated> load_and_validate(config::Loaded&& loaded, bool load_plugins) {
  core::Diagnostics diags = loaded.diagnostics;
  std::shared_ptr<const transforms::RouterPlan> plan;
  // Routes are checked even when other parts of the file are wrong: one run lists everything.
  {
    transforms::Registry registry;
    transforms::register_builtin_transforms(registry);
    // The plan keeps the targets alive: transforms hold pointers to them for the process's life.
    auto targets = std::make_shared<const std::vector<transforms::Target>>(loaded.config.targets);
    std::vector<transforms::RouteSpec> specs;
    for (const auto& r : loaded.config.routes) {
      specs.push_back({r.topics, r.events, r.transform, r.settings, r.mark});
    }
    auto built = transforms::RouterPlan::build(
        specs, registry, std::move(targets), diags,
        transforms::BuildOptions{loaded.config.plugin_dir, load_plugins});
    if (built) {
      plan = std::make_shared<const transforms::RouterPlan>(std::move(*built));
    }
  }
  if (!diags.ok() || !plan) {
    std::fputs(diags.to_string().c_str(), stderr);
    std::fprintf(stderr, "%zu problem(s) in the configuration\n", diags.items().size());
    return std::nullopt;
  }
  return Validated{std::move(loaded.config), std::move(plan)};
}

core::Result<std::unique_ptr<sink::Sink>> make_sink(const config::Config& cfg,
                                                    metrics::Metrics& metrics) {
  switch (cfg.sink.type) {
    case config::SinkType::file:
    case config::SinkType::stdout_: {
      const std::string path = cfg.sink.type == config::SinkType::file ? cfg.sink.file.path : "-";
      auto s = sink::FileSink::open(path, cfg.sink.file.fsync);
      if (!s) {
        return tl::unexpected(s.error());
      }
      return std::unique_ptr<sink::Sink>(std::move(*s));
    }
    case config::SinkType::kafka: {
      auto s = kafka::KafkaSink::create(cfg.kafka, cfg.sink.kafka);
      if (!s) {
        return tl::unexpected(s.error());
      }
      return std::unique_ptr<sink::Sink>(std::move(*s));
    }
    case config::SinkType::platform: {
      // The sink ships bytes it does not write: the XDM streaming message around each entity.
      auto framer = [org = cfg.sink.platform.ims_org_id,
                     source = cfg.sink.platform.source_name](const transforms::Target& target) {
        auto f = transforms::xdm::streaming_framing(target, {org, source});
        return platform::Framing{std::move(f.prefix), std::move(f.suffix)};
      };
      auto s = platform::PlatformSink::create(cfg.sink.platform, metrics, std::move(framer));
      if (!s) {
        return tl::unexpected(s.error());
      }
      return std::unique_ptr<sink::Sink>(std::move(*s));
    }
  }
  return core::fail(core::ErrorKind::permanent, "sink-type", "unknown sink type");
}

core::Result<Components> make_components(const config::Config& cfg, metrics::Metrics& metrics,
                                         bool check_dead_letter_topic) {
  Components c;
  // First: a missing dead-letter topic stops the start before the consumer joins the group or
  // the sink starts its threads.
  auto dl = kafka::DeadLetterWriter::create(cfg.kafka, cfg.dead_letter, check_dead_letter_topic);
  if (!dl) {
    return tl::unexpected(dl.error());
  }
  c.dead_letters = std::move(*dl);
  auto source = kafka::KafkaSource::create(cfg.kafka, metrics);
  if (!source) {
    return tl::unexpected(source.error());
  }
  c.source = std::move(*source);

  auto sink = make_sink(cfg, metrics);
  if (!sink) {
    return tl::unexpected(sink.error());
  }
  c.sink = std::move(*sink);
  return c;
}

core::Result<std::unique_ptr<Service>> start_service(const Validated& validated,
                                                     bool check_dead_letter_topic,
                                                     bool with_receiver) {
  const config::Config& cfg = validated.config;
  auto service = std::make_unique<Service>();
  auto parts = make_components(cfg, service->metrics, check_dead_letter_topic);
  if (!parts) {
    return tl::unexpected(parts.error());
  }
  service->parts = std::move(*parts);
  auto& p = service->parts;
  service->pipeline = std::make_unique<pipeline::Pipeline>(
      pipeline::Dependencies{*p.source, *p.sink, *p.dead_letters, service->metrics, validated.plan},
      cfg.pipeline);
  auto* pipe = service->pipeline.get();
  if (with_receiver) {
    auto rx = start_receiver(cfg, service->metrics);
    if (!rx) {
      return tl::unexpected(rx.error());
    }
    service->receiver = std::move(*rx);
  }
  auto* rx = service->receiver.get();
  std::string note;
  if (const auto insecure = config::insecure_endpoints(cfg); !insecure.empty()) {
    // allow_insecure_http let these through (validation refuses them otherwise).
    const std::string names = fmt::format("{}", fmt::join(insecure, ", "));
    spdlog::warn(
        "allow_insecure_http: clear-text HTTP to {}; the access token and the events cross the "
        "network unencrypted (a private test network only)",
        names);
    service->metrics.platform.insecure_http.Set(1);
    note = fmt::format("warning: allow_insecure_http: clear-text HTTP to {}\n", names);
  }
  auto http = metrics::HttpServer::start(
      cfg.metrics.listen, service->metrics,
      {[pipe, rx] { return pipe->healthy() && (rx == nullptr || rx->healthy()); },
       [pipe, rx] { return pipe->ready() && (rx == nullptr || rx->ready()); }, std::move(note)});
  if (!http) {
    return tl::unexpected(http.error());
  }
  service->http = std::move(*http);
  return service;
}

int exit_status(const core::Result<void>& result) {
  if (result) {
    return kExitOk;
  }
  return result.error().code == pipeline::kDrainDeadline ? kExitUndelivered : kExitFailure;
}

core::Result<void> run_until_stopped(pipeline::Pipeline& pipeline, deadletter::Writer& dead_letters,
                                     receiver::Receiver* receiver) {
  core::Result<void> result;
  {
    StopSignalWatcher watcher([&pipeline, receiver] {
      if (receiver != nullptr) {
        receiver->shutdown();
      }
      pipeline.request_stop();
    });
    result = pipeline.run();
  }
  if (receiver != nullptr && !receiver->shutdown()) {
    spdlog::warn("receiver: requests were still in flight at receiver.shutdown_timeout_ms");
  }
  if (!dead_letters.flush(std::chrono::seconds(5))) {
    spdlog::warn("dead-letter producer did not flush in time");
  }
  return result;
}

core::Result<void> run_until_stopped(Service& service) {
  return run_until_stopped(*service.pipeline, *service.parts.dead_letters, service.receiver.get());
}

void init_logging(const config::LogConfig& cfg) {
  auto logger = spdlog::stderr_color_mt("capillary-bridge");
  if (cfg.format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%*"})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(cfg.level));
  spdlog::set_default_logger(logger);
}

StopSignalWatcher::StopSignalWatcher(std::function<void()> on_stop)
    : thread_([this, on_stop = std::move(on_stop)] {
        core::run_guarded("signal-watcher", [&] { watch(on_stop); });
      }) {}

void StopSignalWatcher::watch(const std::function<void()>& on_stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  const timespec tick{0, 200'000'000};
  while (!done_.load(std::memory_order_relaxed)) {
    const int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGHUP) {
      // No live reload: configuration is read once. A hang-up drains like SIGTERM, so a
      // supervisor restarting on HUP loses nothing and the new process reads the file.
      spdlog::info(
          "received SIGHUP: draining and exiting (restart to apply a changed "
          "configuration)");
      on_stop();
      return;
    }
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
      on_stop();
      return;
    }
  }
}

StopSignalWatcher::~StopSignalWatcher() {
  done_.store(true, std::memory_order_relaxed);
  thread_.join();
}

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace bridge::app

#include <cstdio>

#include <spdlog/spdlog.h>

#include "bridge/app/app.h"
#include "bridge/app/components.h"
#include "bridge/core/version.h"
#include "bridge/metrics/http_server.h"
#include "bridge/pipeline/pipeline.h"

namespace bridge::app {

int validate(const std::string& config_path) {
  const auto validated = load_and_validate(config::load_file(config_path));
  if (!validated) {
    return kExitConfig;
  }
  std::printf("%s: ok\n", config_path.c_str());
  return kExitOk;
}

int run(const std::string& config_path) {
  block_stop_signals();
  const auto validated = load_and_validate(config::load_file(config_path));
  if (!validated) {
    return kExitConfig;
  }
  const config::Config& cfg = validated->config;
  init_logging(cfg.log);
  spdlog::info("capillary-bridge {} ({}) starting", core::version(), core::git_revision());

  metrics::Metrics metrics;
  auto parts = make_components(cfg, metrics);
  if (!parts) {
    spdlog::critical("{}", parts.error().message);
    return kExitFailure;
  }
  pipeline::Pipeline pipeline(
      {*parts->source, *parts->sink, *parts->dead_letters, metrics, validated->plan},
      cfg.pipeline);
  auto http = metrics::HttpServer::start(
      cfg.metrics.listen, metrics,
      {[&pipeline] { return pipeline.healthy(); }, [&pipeline] { return pipeline.ready(); }});
  if (!http) {
    spdlog::critical("{}", http.error().message);
    return kExitFailure;
  }
  spdlog::info("metrics on http://{}/metrics", cfg.metrics.listen);

  core::Result<void> result;
  {
    StopSignalWatcher watcher([&pipeline] { pipeline.request_stop(); });
    result = pipeline.run();
  }
  const auto s = pipeline.stats();
  spdlog::info("stopped: consumed {}, delivered {}, dead-lettered {}, filtered {}", s.consumed,
               s.delivered, s.dead_lettered, s.filtered);
  if (!parts->dead_letters->flush(std::chrono::seconds(5))) {
    spdlog::warn("dead-letter producer did not flush in time");
  }
  return result ? kExitOk : kExitFailure;
}

}  // namespace bridge::app

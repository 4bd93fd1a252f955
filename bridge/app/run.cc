#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "bridge/app/app.h"
#include "bridge/app/components.h"
#include "bridge/core/version.h"

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
  if (cfg.platform.present && cfg.platform.check_at_start != "off") {
    const bool fail = cfg.platform.check_at_start == "fail";
    auto problems = check_platform_at_start(cfg);
    if (!problems) {
      spdlog::warn("platform check could not run: {}", problems.error().message);
    }
    const bool bad = !problems || *problems > 0;
    if (bad && fail) {
      spdlog::critical("platform check found {} (platform.check_at_start: fail): not starting",
                       problems ? fmt::format("{} problem(s)", *problems) : "it could not run");
      return kExitConfig;
    }
    if (bad) {
      spdlog::warn("starting anyway (platform.check_at_start: warn)");
    }
  }

  auto service = start_service(*validated);
  if (!service) {
    spdlog::critical("{}", service.error().message);
    // A problem the operator must fix before anything can run (a missing dead-letter topic).
    return service.error().kind == core::ErrorKind::permanent ? kExitConfig : kExitFailure;
  }
  spdlog::info("metrics on http://{}/metrics", cfg.metrics.listen);
  const auto result = run_until_stopped(**service);
  const auto s = (*service)->pipeline->stats();
  spdlog::info("stopped: consumed {}, delivered {}, dead-lettered {}, filtered {}", s.consumed,
               s.delivered, s.dead_lettered, s.filtered);
  const int status = exit_status(result);
  if (status == kExitUndelivered) {
    spdlog::warn("{}", result.error().message);
  } else if (status != kExitOk) {
    spdlog::critical("exiting: {}", result.error().message);
  }
  return status;
}

}  // namespace bridge::app

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "bridge/app/app.h"
#include "bridge/app/components.h"
#include "bridge/core/version.h"

namespace bridge::app {

int validate(const std::string& config_path, bool no_plugins) {
  const auto validated = load_and_validate(config::load_file(config_path), !no_plugins);
  if (!validated) {
    return kExitConfig;
  }
  std::printf("%s: ok\n", config_path.c_str());
  return kExitOk;
}

std::optional<Validated> start_command(const std::string& config_path, std::string_view what) {
  block_stop_signals();
  auto validated = load_and_validate(config::load_file(config_path));
  if (validated) {
    init_logging(validated->config.log);
    spdlog::info("capillary-bridge {} ({}) {}", core::version(), core::git_revision(), what);
  }
  return validated;
}

int run(const std::string& config_path, bool with_receiver) {
  const auto validated = start_command(config_path, "starting");
  if (!validated) {
    return kExitConfig;
  }
  const config::Config& cfg = validated->config;
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

  auto service = start_service(*validated, /*check_dead_letter_topic=*/true, with_receiver);
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

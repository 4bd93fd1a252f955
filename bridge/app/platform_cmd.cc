// `capillary-bridge platform setup | teardown`: Platform's control plane from the bridge's own
// config (bridge/provision). The same IMS credentials as the streaming sink.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "bridge/app/app.h"
#include "bridge/app/components.h"
#include "bridge/app/embedded.h"
#include "bridge/metrics/metrics.h"
#include "bridge/platform/token.h"
#include "bridge/provision/check.h"
#include "bridge/provision/setup.h"
#include "transforms/api/router.h"

namespace bridge::app {
namespace {

// Collects what the configured routes make of the shipped sample events: the outputs `check`
// holds against the live schemas.
class CollectingEmitter final : public transforms::Emitter {
 public:
  explicit CollectingEmitter(std::vector<provision::SampleOutput>& out) : out_(out) {}
  void set_event(std::string_view event) { event_ = event; }
  void emit(transforms::OutputKind kind, const transforms::Target& target,
            std::string_view body) override {
    if (kind != transforms::OutputKind::raw) {
      out_.push_back({target.name, event_, std::string(body)});
    }
  }
  void emit_unchanged(transforms::OutputKind, const transforms::Target&) override {}

 private:
  std::vector<provision::SampleOutput>& out_;
  std::string event_;
};

std::vector<provision::SampleOutput> sample_outputs(const Validated& validated) {
  std::vector<provision::SampleOutput> outputs;
  transforms::Stage stage(validated.plan);
  CollectingEmitter emitter(outputs);
  const std::string topic =
      validated.config.kafka.topics.empty() ? std::string() : validated.config.kafka.topics.front();
  const std::string_view samples = embedded::sample_events();
  std::int64_t offset = 0;
  for (std::size_t at = 0; at < samples.size();) {
    auto end = samples.find('\n', at);
    if (end == std::string_view::npos) {
      end = samples.size();
    }
    const std::string line(samples.substr(at, end - at));
    at = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      continue;
    }
    core::RecordView view;
    view.topic = topic;
    view.offset = ++offset;
    view.payload = line;
    const std::size_t mark = outputs.size();
    std::string_view event;
    emitter.set_event("");
    if (!stage.process(view, emitter, &event)) {
      outputs.resize(mark);
    } else {
      for (std::size_t i = mark; i < outputs.size(); ++i) {
        outputs[i].event = std::string(event);
      }
    }
  }
  return outputs;
}

// The tenant fields the configured routes write beyond the catalogue's (a mapping route's typed
// `to:` fields), for setup to declare.
std::vector<transforms::TenantField> route_tenant_fields(const Validated& validated) {
  std::vector<transforms::TenantField> out;
  for (const auto& route : validated.plan->routes()) {
    if (!route.creator) {
      continue;
    }
    const auto transform = route.creator();
    for (auto& f : transform->tenant_fields()) {
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace

namespace {

// The control-plane client with the sink's IMS token source (one token source for both planes),
// started by the first call that needs a token.
struct PlatformClient {
  explicit PlatformClient(const config::Config& cfg)
      : api(cfg.platform, cfg.sink.platform, cfg.sink.platform.ims.client_id,
            [this, &cfg]() -> core::Result<std::string> {
              if (!tokens) {
                tokens.emplace(cfg.sink.platform.ims, cfg.sink.platform, metrics.platform);
              }
              auto t = tokens->current();
              if (!t.header && tokens->wait_newer(0, cfg.sink.platform.ims.timeout * 2)) {
                t = tokens->current();
              }
              if (!t.header) {
                const std::string why = tokens->last_error();
                return core::fail(core::ErrorKind::permanent, "ims-token",
                                  fmt::format("no IMS access token: {}",
                                              why.empty() ? "IMS did not answer in time" : why));
              }
              return *t.header;
            }) {}

  metrics::Metrics metrics;
  std::optional<platform::TokenSource> tokens;
  provision::Api api;  // last: its token callback uses the members above
};

}  // namespace

core::Result<provision::SetupResult> run_platform_setup(const Validated& validated,
                                                        std::ostream& out) {
  PlatformClient client(validated.config);
  return provision::setup(client.api, validated.config, route_tenant_fields(validated), false, out);
}

core::Result<int> check_platform_at_start(const config::Config& cfg) {
  PlatformClient client(cfg);
  std::ostringstream report;
  auto problems = provision::check(client.api, cfg, {}, report);
  std::istringstream lines(report.str());
  std::string line;
  std::string last_problem;
  while (std::getline(lines, line)) {
    if (line.starts_with("  PROBLEM")) {
      last_problem = line.substr(11);
    } else if (line.starts_with("           →") && !last_problem.empty()) {
      spdlog::warn("platform check: {} ({})", last_problem, line.substr(line.find("→") + 4));
      last_problem.clear();
    } else if (line.starts_with("  ok")) {
      spdlog::info("platform check: {}", line.substr(11));
    }
  }
  return problems;
}

int platform(const PlatformOptions& options) {
  const auto validated = load_and_validate(config::load_file(options.config_path));
  if (!validated) {
    return kExitConfig;
  }
  const config::Config& cfg = validated->config;
  init_logging(cfg.log);
  std::vector<std::string> missing;
  if (!cfg.platform.present) {
    missing.emplace_back("a `platform:` block (org_id, sandbox)");
  }
  if (cfg.platform.org_id.empty()) {
    missing.emplace_back("platform.org_id (or sink.platform.ims_org_id)");
  }
  if (cfg.sink.platform.ims.client_id.empty() || cfg.sink.platform.ims.client_secret.empty()) {
    missing.emplace_back("sink.platform.ims.client_id and client_secret");
  }
  if (!missing.empty()) {
    std::fprintf(stderr, "%s: platform %s needs %s\n", options.config_path.c_str(),
                 options.command.c_str(), fmt::format("{}", fmt::join(missing, "; ")).c_str());
    return kExitConfig;
  }
  if (options.command == "teardown" && !options.yes) {
    std::fprintf(stderr,
                 "platform teardown deletes every object setup created in sandbox %s: add --yes\n",
                 cfg.platform.sandbox.c_str());
    return kExitConfig;
  }

  PlatformClient client(cfg);
  provision::Api& api = client.api;

  if (options.command == "check") {
    auto problems = provision::check(api, cfg, sample_outputs(*validated), std::cout);
    if (!problems) {
      std::fprintf(stderr, "platform check: %s\n", problems.error().message.c_str());
      return kExitFailure;
    }
    return *problems == 0 ? kExitOk : kExitFailure;
  }
  if (options.command == "teardown") {
    auto deleted = provision::teardown(api, cfg, std::cout);
    if (!deleted) {
      std::fprintf(stderr, "platform teardown: %s\n", deleted.error().message.c_str());
      return kExitFailure;
    }
    return kExitOk;
  }
  auto result =
      provision::setup(api, cfg, route_tenant_fields(*validated), options.dry_run, std::cout);
  if (!result) {
    std::fprintf(stderr, "platform setup: %s\n", result.error().message.c_str());
    // setup-*: what the config asks for does not fit the org (tenant, sandbox, names taken).
    return result.error().code.starts_with("setup-") ? kExitConfig : kExitFailure;
  }
  if (options.dry_run) {
    return kExitOk;
  }
  if (!options.output.empty()) {
    std::ofstream out(options.output, std::ios::trunc);
    out << result->fragment;
    if (!out) {
      std::fprintf(stderr, "platform setup: cannot write %s\n", options.output.c_str());
      return kExitFailure;
    }
    std::printf("Config fragment written to %s.\n", options.output.c_str());
  } else {
    std::printf("\n%s", result->fragment.c_str());
  }
  if (result->created > 0) {
    std::printf(
        "Wait about 5 minutes before streaming: Platform enables a new dataflow gradually.\n");
  }
  return kExitOk;
}

}  // namespace bridge::app

// Stage::process over a plan whose only route is the built-in `capillary` transform; the fuzzer
// input is the Kafka payload. Two plans run every input: the golden tests' settings
// (tests/golden/capillary/bridge.yaml) and one with small size limits, `oversize: dead_letter`
// and the `{orgId}:{customerId}` id format. Beyond "no crash, no sanitizer report"
// (stage_check.h):
// - a record maps to at least one output or is rejected with a documented reason
//   (transforms/capillary/capillary.h, and the envelope reader's); `transform-failed` would mean
//   apply() threw, which it must never do;
// - every output is a JSON object (RapidJSON's strict parser: UTF-8, numbers within double
//   range) with no null and no empty string, object or array;
// - the same payload again, through the same warmed-up stage, gives byte-identical outputs.

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/stage_check.h"
#include "transforms/api/registry.h"
#include "transforms/api/router.h"
#include "transforms/builtin/builtin.h"

namespace {

constexpr std::string_view kTopic = "capillary.events";

constexpr const char* kGoldenSettings = R"(
tenant: acme
targets: {profile: profiles, experience_event: events}
org_timezones: {50001: "+05:30"}
default_currency: USD
)";

constexpr const char* kStrictSettings = R"(
tenant: acme
targets: {profile: profiles, experience_event: events}
identity: {customer_id_format: "{orgId}:{customerId}"}
org_timezones: {50001: "+05:30", 50002: "-08:00"}
org_currencies: {50001: INR}
limits: {experience_event_bytes: 2048, profile_bytes: 4096, oversize: dead_letter}
)";

std::shared_ptr<const transforms::RouterPlan> make_plan(const char* settings_yaml) {
  auto targets = std::make_shared<std::vector<transforms::Target>>(2);
  (*targets)[0].name = "profiles";
  (*targets)[0].dataset_id = "6650a1b2c3d4e5f6a7b8c9d0";
  (*targets)[1].name = "events";
  (*targets)[1].dataset_id = "6650a1b2c3d4e5f6a7b8c9d1";
  transforms::Registry registry;
  transforms::register_builtin_transforms(registry);
  const YAML::Node settings = YAML::Load(settings_yaml);
  const std::vector<transforms::RouteSpec> specs = {
      {{std::string(kTopic)}, {}, "capillary", settings, settings.Mark()}};
  bridge::core::Diagnostics diags("fuzz.yaml");
  auto built = transforms::RouterPlan::build(specs, registry, std::move(targets), diags);
  FUZZ_CHECK(built.has_value(), "the fuzz plan builds");
  return std::make_shared<const transforms::RouterPlan>(std::move(*built));
}

void run(transforms::Stage& stage, std::string_view payload) {
  bridge::fuzz::run_twice(stage, kTopic, payload,
                          {"encoding", "malformed-json", "envelope", "unmapped", "invalid-field",
                           "identity", "privacy-delete", "too-large"},
                          /*success_emits_something=*/true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static transforms::Stage golden(make_plan(kGoldenSettings));
  static transforms::Stage strict(make_plan(kStrictSettings));
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  run(golden, payload);
  run(strict, payload);
  return 0;
}

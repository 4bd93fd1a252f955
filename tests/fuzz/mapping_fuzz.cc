// Stage::process over `mapping` routes; the fuzzer input is the Kafka payload. Routes, first
// match wins: the shipped example (config/mappings/streak-level-achieved.yaml, embedded at build
// time) for streakLevelAchieved, then a catch-all route that uses every part of the language
// (split with a condition, nested arrays with their own condition, every `type:`, constants,
// defaults, `required`, envelope conditions, a second ExperienceEvent with an id suffix and a
// profile) under small size limits with `oversize: dead_letter`, so that any event name goes
// through a mapping. Same invariants as capillary_fuzz (stage_check.h), except that a mapped
// event may emit nothing (every `when` false: warning `mapping-no-output`).

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

namespace bridge::fuzz {
std::string_view mapping_example();  // generated from config/mappings/streak-level-achieved.yaml
}  // namespace bridge::fuzz

namespace {

constexpr std::string_view kTopic = "capillary.events";

constexpr const char* kCatchAllSettings = R"(
tenant: acme
targets: {experience_event: events, profile: profiles}
identity: {customer_id_format: "{orgId}:{customerId}"}
org_timezones: {50001: "+05:30"}
limits: {experience_event_bytes: 4096, profile_bytes: 8192, oversize: dead_letter}
outputs:
  - kind: experience_event
    event_type: loyalty.fuzzSplit
    split: /streakData
    identity: /customerIdentifiers
    when: {pointer: "@/streakName", not_equals: Test}
    fields:
      - {to: $tenant.capillary.streakId, from: "@/streakId", type: id, required: true}
      - {to: $tenant.capillary.name, from: "@/streakName", type: string}
      - {to: $tenant.capillary.value, from: "@/userCurrentStreakValue", type: integer}
      - {to: $tenant.capillary.achievedAt, from: "@/streakLevelAchievedDate", type: date-time}
      - {to: $tenant.capillary.source, value: capillary}
      - {to: $tenant.capillary.kind, from: /kind, type: lower, default: unknown}
      - to: loyalty.pointsGained
        from: /points
        array:
          when: {pointer: "@/value", exists: true}
          fields:
            - {to: value, from: "@/value", type: number}
            - {to: loyaltyProgramId, from: /loyaltyProgramId, type: id}
  - kind: experience_event
    event_type: loyalty.fuzzWhole
    id_suffix: whole
    when: [{pointer: /tier, in: [GOLD, PLATINUM]}, {from_envelope: eventName, not_equals: x}]
    fields:
      - {to: $tenant.capillary.flag, from: /flag, type: boolean}
      - {to: $tenant.capillary.anything, from: /anything, type: auto}
      - {to: $tenant.capillary.code, from: /code, type: upper}
      - {to: $tenant.capillary.tags, from: /tags, array: {type: trim}}
      - {to: $tenant.capillary.expiry, from: /expiry, type: date-end-of-day}
      - {to: $tenant.capillary.phone, from: /mobile, type: phone-e164}
      - {to: $tenant.capillary.email, from: /email, type: email}
  - kind: profile
    fields:
      - {to: loyalty.tier, from: /tierName, type: trim}
      - {to: loyalty.tierExpiryDate, from: /tierExpiryDate, type: date-end-of-day}
)";

std::shared_ptr<const transforms::RouterPlan> make_plan() {
  auto targets = std::make_shared<std::vector<transforms::Target>>(2);
  (*targets)[0].name = "profiles";
  (*targets)[0].dataset_id = "6650a1b2c3d4e5f6a7b8c9d0";
  (*targets)[1].name = "events";
  (*targets)[1].dataset_id = "6650a1b2c3d4e5f6a7b8c9d1";
  transforms::Registry registry;
  transforms::register_builtin_transforms(registry);
  std::vector<transforms::RouteSpec> specs;
  const YAML::Node example = YAML::Load(std::string(bridge::fuzz::mapping_example()));
  for (const auto& route : example) {
    specs.push_back({{},
                     route["events"].as<std::vector<std::string>>(),
                     route["transform"].as<std::string>(),
                     route["settings"],
                     route.Mark()});
  }
  const YAML::Node catch_all = YAML::Load(kCatchAllSettings);
  specs.push_back({{}, {}, "mapping", catch_all, catch_all.Mark()});
  bridge::core::Diagnostics diags("fuzz.yaml");
  auto built = transforms::RouterPlan::build(specs, registry, std::move(targets), diags);
  if (!built) {
    std::fprintf(stderr, "%s", diags.to_string().c_str());
  }
  FUZZ_CHECK(built.has_value(), "the fuzz plan builds");
  return std::make_shared<const transforms::RouterPlan>(std::move(*built));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static transforms::Stage stage(make_plan());
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  bridge::fuzz::run_twice(
      stage, kTopic, payload,
      {"encoding", "malformed-json", "envelope", "invalid-field", "identity", "too-large"},
      /*success_emits_something=*/false);
  return 0;
}

// Stage::process over a plan whose only route is the built-in `capillary` transform; the fuzzer
// input is the Kafka payload. Two plans run every input: the golden tests' settings
// (tests/golden/capillary/bridge.yaml) and one with small size limits, `oversize: dead_letter`
// and the `{orgId}:{customerId}` id format. Beyond "no crash, no sanitizer report":
// - a record maps or is rejected with a documented reason (transforms/capillary/capillary.h, and
//   the envelope reader's); `transform-failed` means apply() threw, which it must never do;
// - every output is a JSON object (RapidJSON's strict parser, UTF-8 validated, numbers within
//   double range) with no null and no empty string, object or array;
// - the same payload again, through the same warmed-up stage, gives byte-identical outputs.

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "transforms/api/registry.h"
#include "transforms/api/router.h"
#include "transforms/builtin/builtin.h"

namespace {

using transforms::OutputKind;

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

struct Output {
  OutputKind kind;
  std::string target;
  std::string body;
  bool operator==(const Output&) const = default;
};

class RecordingEmitter final : public transforms::Emitter {
 public:
  void emit(OutputKind kind, const transforms::Target& target, std::string_view body) override {
    outputs.push_back({kind, target.name, std::string(body)});
  }
  void emit_unchanged(OutputKind /*kind*/, const transforms::Target& /*target*/) override {
    FUZZ_CHECK(false, "capillary never forwards the payload unchanged");
  }
  std::vector<Output> outputs;
};

void check_value(const rapidjson::Value& v) {
  FUZZ_CHECK(!v.IsNull(), "no null in an output");
  if (v.IsString()) {
    const std::string_view s(v.GetString(), v.GetStringLength());
    FUZZ_CHECK(s.find_first_not_of(" \t\r\n") != std::string_view::npos, "no blank string");
  } else if (v.IsObject()) {
    FUZZ_CHECK(v.MemberCount() > 0, "no empty object");
    for (const auto& m : v.GetObject()) {
      check_value(m.value);
    }
  } else if (v.IsArray()) {
    FUZZ_CHECK(!v.Empty(), "no empty array");
    for (const auto& e : v.GetArray()) {
      check_value(e);
    }
  }
}

void check_output(const Output& o) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(o.body.data(), o.body.size());
  if (doc.HasParseError()) {
    std::fprintf(stderr, "output is not valid JSON: %s at %zu\n%s\n",
                 rapidjson::GetParseError_En(doc.GetParseError()), doc.GetErrorOffset(),
                 o.body.c_str());
  }
  FUZZ_CHECK(!doc.HasParseError(), "outputs are valid JSON");
  FUZZ_CHECK(doc.IsObject(), "outputs are JSON objects");
  check_value(doc);
}

bool documented(const std::string& code) {
  for (const char* c : {"encoding", "malformed-json", "envelope", "unmapped", "invalid-field",
                        "identity", "privacy-delete", "too-large"}) {
    if (code == c) {
      return true;
    }
  }
  return false;
}

void run(transforms::Stage& stage, std::string_view payload) {
  bridge::core::RecordView view;
  view.topic = kTopic;
  view.payload = payload;
  RecordingEmitter first;
  const auto r = stage.process(view, first, nullptr);
  if (!r) {
    if (!documented(r.error().code)) {
      std::fprintf(stderr, "reject %s: %s\n", r.error().code.c_str(), r.error().message.c_str());
    }
    FUZZ_CHECK(r.error().kind == bridge::core::ErrorKind::reject, "errors are rejects");
    FUZZ_CHECK(documented(r.error().code), "a documented reject reason");
    FUZZ_CHECK(first.outputs.empty(), "a rejected record emits nothing");
  } else {
    FUZZ_CHECK(!first.outputs.empty(), "a mapped record emits something");
    for (const Output& o : first.outputs) {
      check_output(o);
    }
  }
  RecordingEmitter second;
  const auto again = stage.process(view, second, nullptr);
  FUZZ_CHECK(again.has_value() == r.has_value(), "the same payload gives the same verdict");
  FUZZ_CHECK(again || again.error().code == r.error().code, "the same reject reason");
  FUZZ_CHECK(second.outputs == first.outputs, "the same payload gives the same bytes");
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

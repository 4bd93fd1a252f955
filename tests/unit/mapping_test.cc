// The declarative `mapping` transform, through RouterPlan and Stage as the pipeline runs it:
// every type conversion, constants and defaults, conditions, arrays, splits with `:{index}`
// ids (checked against a UUIDv5 computed here, independently of transforms/xdm), identity
// rules, rejects that name the JSON path but never the value, determinism, no allocation once
// warm, and configuration errors reported with line:column, several at once. The shipped
// example (config/mappings/streak-level-achieved.yaml) runs on the golden input.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "tests/harness/alloc_count.h"
#include "transforms/api/envelope.h"
#include "transforms/api/registry.h"
#include "transforms/api/router.h"
#include "transforms/builtin/builtin.h"

namespace transforms {
namespace {

struct Output {
  OutputKind kind = OutputKind::raw;
  std::string target;
  std::string body;
};

class RecordingEmitter final : public Emitter {
 public:
  void emit(OutputKind kind, const Target& target, std::string_view body) override {
    outputs.push_back({kind, target.name, std::string(body)});
  }
  void emit_unchanged(OutputKind kind, const Target& target) override {
    outputs.push_back({kind, target.name, "<unchanged>"});
  }
  void warning(std::string_view code) override { warnings.emplace_back(code); }
  std::vector<Output> outputs;
  std::vector<std::string> warnings;
};

class NullEmitter final : public Emitter {
 public:
  void emit(OutputKind, const Target&, std::string_view body) override { bytes += body.size(); }
  void emit_unchanged(OutputKind, const Target&) override {}
  std::size_t bytes = 0;
};

struct Outcome {
  bool ok = false;
  std::string code;
  std::string message;
  std::vector<Output> outputs;
  std::vector<std::string> warnings;

  [[nodiscard]] const std::string& body(std::size_t i = 0) const {
    static const std::string none = "<no output>";
    return i < outputs.size() ? outputs[i].body : none;
  }
};

std::string source_dir() {
  const char* root = std::getenv("BRIDGE_SOURCE_DIR");
  return root != nullptr ? root : ".";
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

// The value at `pointer` in a JSON document, minified; "<absent>" when there is none.
std::string at(const std::string& body, const char* pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS) {
    return "<invalid json>";
  }
  simdjson::dom::element e;
  if (doc.at_pointer(pointer).get(e) != simdjson::SUCCESS) {
    return "<absent>";
  }
  return simdjson::minify(e);
}

// UUIDv5 (RFC 9562) of `name` in the URL namespace, computed here with OpenSSL directly.
std::string uuid5(const std::string& name) {
  const std::array<unsigned char, 16> ns = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                            0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
  std::string input(ns.begin(), ns.end());
  input += name;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha1(), nullptr);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0F) | 0x50);
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3F) | 0x80);
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out.push_back('-');
    }
    char hex[3];
    std::snprintf(hex, sizeof(hex), "%02x", digest[i]);
    out += hex;
  }
  return out;
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

// An E1 event with this `data`.
std::string event(const std::string& data, const std::string& event_id = "ev-1") {
  return R"({"eventName":"streakLevelAchieved","eventId":")" + event_id +
         R"(","orgId":50001,"refId":"50001_r","apiRequestId":"api-1","createdAt":1740827820763,"data":)" +
         data + "}";
}

constexpr const char* kCustomer = R"("customerIdentifiers":{"customerId":510000103})";

std::shared_ptr<const std::vector<Target>> make_targets() {
  auto targets = std::make_shared<std::vector<Target>>();
  for (const char* name : {"default", "profiles", "events"}) {
    Target t;
    t.name = name;
    targets->push_back(t);
  }
  return targets;
}

std::vector<RouteSpec> specs_from(const YAML::Node& routes) {
  std::vector<RouteSpec> specs;
  for (const auto& r : routes) {
    std::vector<std::string> events;
    if (r["events"]) {
      events = r["events"].as<std::vector<std::string>>();
    }
    specs.push_back({{}, events, r["transform"].as<std::string>(""), r["settings"], r.Mark()});
  }
  return specs;
}

class MappingTest : public ::testing::Test {
 protected:
  void SetUp() override { register_builtin_transforms(registry_); }

  // A plan with one mapping route whose settings are `settings` (YAML, a block under the
  // route's `settings:`; line numbers in diagnostics count from the first line of `settings`
  // plus kSettingsLine).
  static constexpr int kSettingsLine = 3;
  static std::string route(const std::string& settings) {
    return "routes:\n  - transform: mapping\n    settings:\n" + settings;
  }

  std::shared_ptr<const RouterPlan> build(const YAML::Node& routes) {
    diags_ = bridge::core::Diagnostics("bridge.yaml");
    auto built = RouterPlan::build(specs_from(routes), registry_, targets_, diags_);
    if (!built) {
      return nullptr;
    }
    return std::make_shared<const RouterPlan>(std::move(*built));
  }

  std::shared_ptr<const RouterPlan> plan(const std::string& settings) {
    auto p = build(YAML::Load(route(settings))["routes"]);
    EXPECT_NE(p, nullptr) << diags_.to_string();
    return p;
  }

  std::vector<bridge::core::Diagnostic> problems(const std::string& settings) {
    auto p = build(YAML::Load(route(settings))["routes"]);
    EXPECT_EQ(p, nullptr);
    return diags_.items();
  }

  static Outcome run(Stage& stage, const std::string& payload) {
    bridge::core::RecordView view;
    view.topic = "capillary.events";
    view.payload = payload;
    RecordingEmitter out;
    Outcome o;
    const auto r = stage.process(view, out, nullptr);
    o.ok = r.has_value();
    if (!r) {
      o.code = r.error().code;
      o.message = r.error().message;
    }
    o.outputs = std::move(out.outputs);
    o.warnings = std::move(out.warnings);
    return o;
  }

  Outcome run(const std::shared_ptr<const RouterPlan>& p, const std::string& payload) {
    Stage stage(p);
    return run(stage, payload);
  }

  Registry registry_;
  std::shared_ptr<const std::vector<Target>> targets_ = make_targets();
  bridge::core::Diagnostics diags_;
};

// Settings of one experience_event output with these fields (indented list items).
std::string event_output(const std::string& fields, const std::string& extra = {}) {
  return R"(      tenant: acme
      targets: {experience_event: events, profile: profiles}
      org_timezones: {50001: "+05:30"}
      outputs:
        - kind: experience_event
          event_type: loyalty.test
)" + extra +
         "          fields:\n" + fields;
}

// ---------------------------------------------------------------- the shipped example

TEST_F(MappingTest, ShippedExampleMapsTheGoldenInput) {
  const YAML::Node routes =
      YAML::LoadFile(source_dir() + "/config/mappings/streak-level-achieved.yaml");
  auto p = build(routes);
  ASSERT_NE(p, nullptr) << diags_.to_string();
  // The golden tests' configuration carries the same route.
  const YAML::Node golden = YAML::LoadFile(source_dir() + "/tests/golden/mapping/bridge.yaml");
  EXPECT_EQ(YAML::Dump(golden["routes"]), YAML::Dump(routes));
  const auto input =
      read_lines(source_dir() + "/tests/golden/mapping/streakLevelAchieved/input.jsonl");
  ASSERT_GE(input.size(), 10U);
  Stage stage(p);

  const Outcome flat = run(stage, input[0]);
  ASSERT_TRUE(flat.ok) << flat.message;
  ASSERT_EQ(flat.outputs.size(), 1U);
  EXPECT_EQ(flat.outputs[0].kind, OutputKind::experience_event);
  EXPECT_EQ(flat.outputs[0].target, "events");
  const std::string id = "81bcda6a-dae2-502e-92c3-7903ea9cf6c1";
  EXPECT_EQ(
      flat.body(),
      R"({"_id":")" + uuid5("capillary:50001:" + id + ":0") +
          R"(","timestamp":"2025-03-01T11:17:00.763Z","eventType":"loyalty.streakLevelAchieved",)"
          R"("identityMap":{"capillaryCustomerId":[{"id":"510000103","authenticatedState":"authenticated","primary":true}]},)"
          R"("_acme":{"capillary":{"orgId":50001,"eventId":")" +
          id +
          R"(","eventName":"streakLevelAchieved","refId":"50001_eb18a2db89","apiRequestId":"2f73552c72a067ba77433a3e277cef82",)"
          R"("streakId":"41","userStreakId":"4101","streakName":"Three visits","streakLevelName":"Level 1",)"
          R"("streakValue":3,"levelAchievedAt":"2025-03-01T11:17:26.172Z","triggeringActivity":"TransactionAdd"}}})");

  // E2 and E3 envelopes of the same event give the same `_id` (redeliveries dedupe).
  const Outcome wrapped = run(stage, input[1]);
  ASSERT_TRUE(wrapped.ok) << wrapped.message;
  EXPECT_EQ(at(wrapped.body(), "/_id"), at(flat.body(), "/_id"));
  const Outcome body = run(stage, input[2]);
  ASSERT_TRUE(body.ok) << body.message;
  EXPECT_EQ(body.body(), flat.body());

  // Two levels: two events, `:0` and `:1`.
  const Outcome two = run(stage, input[3]);
  ASSERT_TRUE(two.ok) << two.message;
  ASSERT_EQ(two.outputs.size(), 2U);
  const std::string two_id = "81bcda6a-dae2-502e-92c3-7903ea9ce001";
  EXPECT_EQ(at(two.body(0), "/_id"), quoted(uuid5("capillary:50001:" + two_id + ":0")));
  EXPECT_EQ(at(two.body(1), "/_id"), quoted(uuid5("capillary:50001:" + two_id + ":1")));
  EXPECT_EQ(at(two.body(1), "/_acme/capillary/streakValue"), "5");
  EXPECT_EQ(at(two.body(1), "/_acme/capillary/levelAchievedAt"), R"("2025-03-01T11:17:27.000Z")");

  // Strings for numbers, ids beyond 2^32, ids written as doubles, epoch dates.
  const Outcome lenient = run(stage, input[4]);
  ASSERT_TRUE(lenient.ok) << lenient.message;
  EXPECT_EQ(at(lenient.body(), "/identityMap/capillaryCustomerId/0/id"), R"("84793759919")");
  EXPECT_EQ(at(lenient.body(), "/_acme/capillary/streakValue"), "7");
  EXPECT_EQ(at(lenient.body(), "/_acme/capillary/streakId"), R"("41")");
  EXPECT_EQ(at(lenient.body(), "/_acme/capillary/userStreakId"), R"("4294967297")");
  EXPECT_EQ(at(lenient.body(), "/_acme/capillary/levelAchievedAt"),
            R"("2025-03-01T11:17:00.763Z")");

  // An unparseable date is left out and counted; a date-only one ends that day at +05:30.
  const Outcome dates = run(stage, input[5]);
  ASSERT_TRUE(dates.ok) << dates.message;
  ASSERT_EQ(dates.outputs.size(), 2U);
  EXPECT_EQ(at(dates.body(0), "/_acme/capillary/levelAchievedAt"), "<absent>");
  EXPECT_EQ(at(dates.body(0), "/_acme/capillary/streakLevelName"), "<absent>");
  EXPECT_EQ(dates.warnings, std::vector<std::string>{"unparseable-time"});
  EXPECT_EQ(at(dates.body(1), "/_acme/capillary/levelAchievedAt"), R"("2025-03-01T18:29:59.000Z")");

  // No streakData: nothing to send, counted.
  const Outcome none = run(stage, input[8]);
  EXPECT_TRUE(none.ok);
  EXPECT_TRUE(none.outputs.empty());
  EXPECT_EQ(none.warnings, std::vector<std::string>{"mapping-no-output"});

  // Rejects name the path, never the value.
  const Outcome no_customer = run(stage, input[9]);
  EXPECT_EQ(no_customer.code, "identity");
  const Outcome not_array = run(stage, input[10]);
  EXPECT_EQ(not_array.code, "invalid-field");
  EXPECT_EQ(not_array.message, "data.streakData: expected an array, got an object");
  const Outcome object_value = run(stage, input[11]);
  EXPECT_EQ(object_value.code, "invalid-field");
  EXPECT_EQ(object_value.message,
            "data.streakData[1].userCurrentStreakValue: expected a number or a numeric string, "
            "got an object");
  const Outcome required = run(stage, input[12]);
  EXPECT_EQ(required.code, "invalid-field");
  EXPECT_EQ(required.message, "data.streakData[0].streakId: required, but missing, null or blank");
  const Outcome fraction = run(stage, input[13]);
  EXPECT_EQ(fraction.message, "data.streakData[0].userCurrentStreakValue: not an integer");
  const Outcome element = run(stage, input[14]);
  EXPECT_EQ(element.message, "data.streakData[0]: expected an object, got a string");
  EXPECT_EQ(element.message.find("Level 1"), std::string::npos);
  const Outcome envelope = run(stage, input[15]);
  EXPECT_EQ(envelope.code, "envelope");
}

// badgeEarned redone as a mapping gives the catalogue's bytes, rejects and warnings on the
// catalogue's golden input: the same `_id`, timestamp, identity and tenant conventions.
TEST_F(MappingTest, BadgeEarnedRedoneMatchesTheCatalogue) {
  const YAML::Node routes = YAML::Load(R"(
- transform: capillary
  settings: {tenant: acme, targets: {experience_event: events}}
- transform: mapping
  settings:
    tenant: acme
    targets: {experience_event: events}
    outputs:
      - kind: experience_event
        event_type: loyalty.badgeEarned
        fields:
          - {to: $tenant.capillary.badgeId, from: /badgeId, type: id}
          - {to: $tenant.capillary.earnId, from: /earnId, type: id}
)");
  auto p = build(routes);
  ASSERT_NE(p, nullptr) << diags_.to_string();
  auto catalogue = p->routes()[0].creator();
  auto mapping = p->routes()[1].creator();
  const auto input = read_lines(source_dir() + "/tests/golden/capillary/badgeEarned/input.jsonl");
  ASSERT_GE(input.size(), 15U);
  int compared = 0;
  for (const std::string& line : input) {
    EnvelopeReader reader;
    const auto env = reader.read(line);
    if (!env) {
      continue;
    }
    bridge::core::RecordView view;
    view.payload = line;
    RecordingEmitter a;
    RecordingEmitter b;
    const auto ra = catalogue->apply(Input{view, *env}, a);
    const auto rb = mapping->apply(Input{view, *env}, b);
    ASSERT_EQ(ra.has_value(), rb.has_value()) << line;
    if (!ra) {
      EXPECT_EQ(ra.error().code, rb.error().code) << line;
      EXPECT_EQ(ra.error().message, rb.error().message) << line;
      continue;
    }
    ASSERT_EQ(a.outputs.size(), 1U);
    ASSERT_EQ(b.outputs.size(), 1U);
    EXPECT_EQ(a.outputs[0].body, b.outputs[0].body);
    EXPECT_EQ(a.warnings, b.warnings) << line;
    ++compared;
  }
  EXPECT_GE(compared, 10);
}

// ---------------------------------------------------------------- conversions

TEST_F(MappingTest, EveryTypeConversion) {
  auto p = plan(event_output(R"(
            - {to: $tenant.s, from: /s, type: string}
            - {to: $tenant.sn, from: /n, type: string}
            - {to: $tenant.t, from: /s, type: trim}
            - {to: $tenant.lo, from: /s, type: lower}
            - {to: $tenant.up, from: /s, type: upper}
            - {to: $tenant.i1, from: /istr, type: integer}
            - {to: $tenant.i2, from: /idouble, type: integer}
            - {to: $tenant.n1, from: /n, type: number}
            - {to: $tenant.n2, from: /nstr, type: number}
            - {to: $tenant.n3, from: /nsci, type: number}
            - {to: $tenant.b1, from: /b, type: boolean}
            - {to: $tenant.b2, from: /bstr, type: boolean}
            - {to: $tenant.d1, from: /ms, type: date-time}
            - {to: $tenant.d2, from: /sec, type: date-time}
            - {to: $tenant.d3, from: /iso, type: date-time}
            - {to: $tenant.d4, from: /date, type: date-time}
            - {to: $tenant.d5, from: /msstr, type: date-time}
            - {to: $tenant.e1, from: /date, type: date-end-of-day}
            - {to: $tenant.p1, from: /phone, type: phone-e164}
            - {to: $tenant.m1, from: /email, type: email}
            - {to: $tenant.id1, from: /bigid, type: id}
            - {to: $tenant.id2, from: /doubleid, type: id}
            - {to: $tenant.id3, from: /textid, type: id}
            - {to: $tenant.a1, from: /s}
            - {to: $tenant.a2, from: /n}
            - {to: $tenant.a3, from: /b}
            - {to: $tenant.a4, from: /nsci}
)"));
  ASSERT_NE(p, nullptr);
  const Outcome o = run(p, event(std::string("{") + kCustomer + R"(,
    "s":"  Mixed Case é ","n":89000.0,"istr":" 7 ","idouble":50952.0,"nstr":" 12.50 ",
    "nsci":1.7193E12,"b":false,"bstr":"TRUE","ms":1719820044783,"sec":1719820044,
    "iso":"2024-07-01T13:40:26.172+0000","date":"2025-07-01","msstr":"1719820044783",
    "phone":"+91 96500-00000","email":" Asha.RAO@Example.IN ","bigid":84793759919,
    "doubleid":379499720.0,"textid":" 65f1c0a9e4b0 "})"));
  ASSERT_TRUE(o.ok) << o.message;
  const std::string& b = o.body();
  const auto t = [&](const char* name) { return at(b, (std::string("/_acme/") + name).c_str()); };
  EXPECT_EQ(t("s"), R"("  Mixed Case é ")");
  EXPECT_EQ(t("sn"), R"("89000.0")");
  EXPECT_EQ(t("t"), R"("Mixed Case é")");
  EXPECT_EQ(t("lo"), R"("mixed case é")");
  EXPECT_EQ(t("up"), R"("MIXED CASE é")");
  EXPECT_EQ(t("i1"), "7");
  EXPECT_EQ(t("i2"), "50952");
  EXPECT_NE(b.find(R"("n1":89000.0)"), std::string::npos) << b;  // exact text kept
  EXPECT_EQ(t("n2"), "12.5");
  // Exponent forms are rewritten from the double (strict parsers refuse `0e400`-like text).
  EXPECT_NE(b.find(R"("n3":1.7193e+12)"), std::string::npos) << b;
  EXPECT_EQ(t("b1"), "false");
  EXPECT_EQ(t("b2"), "true");
  EXPECT_EQ(t("d1"), R"("2024-07-01T07:47:24.783Z")");
  EXPECT_EQ(t("d2"), R"("2024-07-01T07:47:24.000Z")");
  EXPECT_EQ(t("d3"), R"("2024-07-01T13:40:26.172Z")");  // keeps its offset
  EXPECT_EQ(t("d4"), R"("2025-07-01T18:29:59.000Z")");
  EXPECT_EQ(t("d5"), R"("2024-07-01T07:47:24.783Z")");
  EXPECT_EQ(t("e1"), R"("2025-07-01T18:29:59.000Z")");
  EXPECT_EQ(t("p1"), R"("+919650000000")");
  EXPECT_EQ(t("m1"), R"("asha.rao@example.in")");
  EXPECT_EQ(t("id1"), R"("84793759919")");
  EXPECT_EQ(t("id2"), R"("379499720")");
  EXPECT_EQ(t("id3"), R"("65f1c0a9e4b0")");
  EXPECT_EQ(t("a1"), R"("  Mixed Case é ")");
  EXPECT_EQ(t("a2"), "89000.0");
  EXPECT_EQ(t("a3"), "false");
  EXPECT_NE(b.find(R"("a4":1.7193e+12)"), std::string::npos) << b;  // as `number` writes it
  EXPECT_TRUE(o.warnings.empty());
}

// A JSON number outside a double's range is valid JSON but not to Platform's parser: with or
// without a `type:`, the field is invalid and its path is named (found by mapping_fuzz: `auto`
// copied the token as it was).
TEST_F(MappingTest, NumbersOutsideDoubleRangeAreInvalidFields) {
  auto p = plan(event_output(R"(
            - {to: $tenant.a, from: /a}
            - {to: $tenant.n, from: /n, type: number}
)"));
  ASSERT_NE(p, nullptr);
  for (const char* n : {"1e400", "-1E+77777777777777777777777772"}) {
    for (const char* field : {"a", "n"}) {
      const Outcome o = run(p, event(std::string("{") + kCustomer + R"(,")" + field + R"(":)" + n +
                                     (field[0] == 'a' ? R"(,"n":1})" : R"(,"a":1})")));
      EXPECT_FALSE(o.ok) << n << ": " << (o.outputs.empty() ? "" : o.body());
      EXPECT_EQ(o.code, "invalid-field") << n;
      EXPECT_EQ(o.message, std::string("data.") + field + ": not a number");
    }
  }
  const Outcome fine = run(p, event(std::string("{") + kCustomer + R"(,"a":-2.5E-3,"n":7})"));
  ASSERT_TRUE(fine.ok) << fine.message;
  EXPECT_NE(fine.body().find(R"("a":-0.0025)"), std::string::npos) << fine.body();
}

// The `phone-e164` type and the mapping's identities follow the catalogue's phone rules and its
// org_phone_country_codes setting (one normaliser, reference/xdm-mapping.md §7.1).
TEST_F(MappingTest, NationalPhonesTakeTheOrgsCallingCode) {
  const std::string fields = R"(
            - {to: $tenant.p, from: /phone, type: phone-e164}
)";
  auto with_code =
      plan(event_output(fields).replace(event_output(fields).find("      outputs:"), 0,
                                        "      org_phone_country_codes: {50001: \"91\"}\n"));
  ASSERT_NE(with_code, nullptr);
  const std::string national = std::string("{") + kCustomer + R"(,"phone":"09820054321"})";
  const Outcome o = run(with_code, event(national));
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_EQ(at(o.body(), "/_acme/p"), R"("+919820054321")");
  EXPECT_TRUE(o.warnings.empty());
  auto without = plan(event_output(fields));
  ASSERT_NE(without, nullptr);
  const Outcome n = run(without, event(national));
  ASSERT_TRUE(n.ok) << n.message;
  EXPECT_EQ(at(n.body(), "/_acme/p"), "<absent>") << "a national number became international";
  EXPECT_EQ(n.warnings, (std::vector<std::string>{"phone-not-e164"}));
}

TEST_F(MappingTest, InvalidPhoneEmailAndTimesAreLeftOutAndCounted) {
  auto p = plan(event_output(R"(
            - {to: $tenant.p, from: /phone, type: phone-e164}
            - {to: $tenant.h, from: /hashed, type: phone-e164}
            - {to: $tenant.m, from: /email, type: email}
            - {to: $tenant.d, from: /when, type: date-time}
            - {to: $tenant.e, from: /when, type: date-end-of-day}
            - {to: $tenant.k, value: kept}
)"));
  ASSERT_NE(p, nullptr);
  const Outcome o = run(p, event(std::string("{") + kCustomer + R"(,"phone":"12345",
    "hashed":"e59baa6df5a41d818608688fe3dcaccc","email":"testuserfortata",
    "when":"Tue Mar 04 15:27:00 GMT 2025"})"));
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_EQ(
      at(o.body(), "/_acme"),
      R"({"capillary":{"orgId":50001,"eventId":"ev-1","eventName":"streakLevelAchieved","refId":"50001_r","apiRequestId":"api-1"},"k":"kept"})");
  // "12345": digits, but no E.164 number (reference/xdm-mapping.md §7.1).
  EXPECT_EQ(o.warnings,
            (std::vector<std::string>{"phone-not-e164", "identity-hashed", "identity-invalid-email",
                                      "unparseable-time", "unparseable-time"}));
}

TEST_F(MappingTest, WrongTypesRejectWithThePathAndNeverTheValue) {
  struct Case {
    const char* type;
    const char* value;
    const char* message;
  };
  const Case cases[] = {
      {"integer", R"({"secret":1})",
       "data.x.y: expected a number or a numeric string, got an object"},
      {"integer", R"("12.5")", "data.x.y: not an integer"},
      {"integer", R"("secret")", "data.x.y: not a number"},
      {"number", R"(["secret"])", "data.x.y: expected a number or a numeric string, got an array"},
      {"number", R"("secret")", "data.x.y: not a number"},
      {"string", "true", "data.x.y: expected a string, got a boolean"},
      {"boolean", R"("secret")", "data.x.y: not a boolean"},
      {"boolean", "1", "data.x.y: not a boolean"},
      {"date-time", R"({"secret":1})",
       "data.x.y: expected a time (epoch number or date string), got an object"},
      {"id", R"({"secret":1})", "data.x.y: expected a string, got an object"},
      {"auto", R"({"secret":1})",
       "data.x.y: expected a string, a number or a boolean, got an object"},
  };
  for (const Case& c : cases) {
    auto p = plan(event_output(std::string("            - {to: $tenant.v, from: /x/y, type: ") +
                               c.type + "}\n"));
    ASSERT_NE(p, nullptr);
    const Outcome o =
        run(p, event(std::string("{") + kCustomer + R"(,"x":{"y":)" + c.value + "}}"));
    EXPECT_FALSE(o.ok) << c.type << " " << c.value;
    EXPECT_EQ(o.code, "invalid-field") << c.type << " " << c.value;
    EXPECT_EQ(o.message, c.message);
    EXPECT_EQ(o.message.find("secret"), std::string::npos);
    EXPECT_TRUE(o.outputs.empty());
  }
}

// ---------------------------------------------------------------- constants, defaults, required

TEST_F(MappingTest, ConstantsDefaultsAndRequired) {
  auto p = plan(event_output(R"(
            - {to: $tenant.c.text, value: capillary}
            - {to: $tenant.c.number, value: 3}
            - {to: $tenant.c.quoted, value: "3"}
            - {to: $tenant.c.boolean, value: true}
            - {to: $tenant.c.typed, value: "42", type: integer}
            - {to: $tenant.c.date, value: "2025-01-31", type: date-end-of-day}
            - {to: $tenant.d.absent, from: /absent, type: lower, default: UNKNOWN}
            - {to: $tenant.d.null, from: /null, type: integer, default: 0}
            - {to: $tenant.d.blank, from: /blank, default: none}
            - {to: $tenant.d.present, from: /kind, type: lower, default: unknown}
            - {to: $tenant.r, from: /kind, required: true}
            - {to: $tenant.envelope.event, from_envelope: eventId}
            - {to: $tenant.envelope.created, from_envelope: createdAt, type: date-time}
            - {to: $tenant.envelope.org, from_envelope: orgId, type: string}
)"));
  ASSERT_NE(p, nullptr);
  const Outcome o =
      run(p, event(std::string("{") + kCustomer + R"(,"null":null,"blank":"  ","kind":"GOLD"})"));
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_EQ(
      at(o.body(), "/_acme/c"),
      R"({"text":"capillary","number":3,"quoted":"3","boolean":true,"typed":42,"date":"2025-01-31T18:29:59.000Z"})");
  EXPECT_EQ(at(o.body(), "/_acme/d"),
            R"({"absent":"unknown","null":0,"blank":"none","present":"gold"})");
  EXPECT_EQ(at(o.body(), "/_acme/r"), R"("GOLD")");
  EXPECT_EQ(at(o.body(), "/_acme/envelope"),
            R"({"event":"ev-1","created":"2025-03-01T11:17:00.763Z","org":"50001"})");

  const Outcome missing = run(p, event(std::string("{") + kCustomer + R"(,"kind":" "})"));
  EXPECT_EQ(missing.code, "invalid-field");
  EXPECT_EQ(missing.message, "data.kind: required, but missing, null or blank");
}

// ---------------------------------------------------------------- conditions

TEST_F(MappingTest, ConditionsOnOutputsAndFields) {
  auto p = plan(R"(      tenant: acme
      targets: {experience_event: events}
      outputs:
        - kind: experience_event
          event_type: loyalty.daily
          id_suffix: daily
          when: {pointer: /streakName, equals: Daily}
          fields:
            - {to: $tenant.gold, value: yes, when: {pointer: /tier, in: [GOLD, PLATINUM]}}
            - {to: $tenant.notSilver, value: yes, when: {pointer: /tier, not_equals: SILVER}}
            - {to: $tenant.hasBonus, value: yes, when: {pointer: /bonus, exists: true}}
            - {to: $tenant.noBonus, value: yes, when: {pointer: /bonus, exists: false}}
            - {to: $tenant.five, value: yes, when: {pointer: /count, equals: 5}}
            - {to: $tenant.flag, value: yes, when: {pointer: /flag, equals: true}}
            - {to: $tenant.both, value: yes, when: [{pointer: /tier, equals: GOLD}, {pointer: /count, equals: 6}]}
            - {to: $tenant.named, value: yes, when: {from_envelope: eventName, equals: streakLevelAchieved}}
        - kind: experience_event
          event_type: loyalty.other
          id_suffix: other
          when: {pointer: /streakName, not_equals: Daily}
)");
  ASSERT_NE(p, nullptr);
  const Outcome daily =
      run(p, event(std::string("{") + kCustomer +
                   R"(,"streakName":"Daily ","tier":"GOLD","count":5.0,"flag":true})"));
  ASSERT_TRUE(daily.ok) << daily.message;
  ASSERT_EQ(daily.outputs.size(), 1U);
  EXPECT_EQ(at(daily.body(), "/eventType"), R"("loyalty.daily")");
  EXPECT_EQ(at(daily.body(), "/_id"), quoted(uuid5("capillary:50001:ev-1:daily")));
  EXPECT_EQ(at(daily.body(), "/_acme/gold"), R"("yes")");
  EXPECT_EQ(at(daily.body(), "/_acme/notSilver"), R"("yes")");
  EXPECT_EQ(at(daily.body(), "/_acme/hasBonus"), "<absent>");
  EXPECT_EQ(at(daily.body(), "/_acme/noBonus"), R"("yes")");
  EXPECT_EQ(at(daily.body(), "/_acme/five"), R"("yes")");
  EXPECT_EQ(at(daily.body(), "/_acme/flag"), R"("yes")");
  EXPECT_EQ(at(daily.body(), "/_acme/both"), "<absent>");
  EXPECT_EQ(at(daily.body(), "/_acme/named"), R"("yes")");

  const Outcome other = run(p, event(std::string("{") + kCustomer +
                                     R"(,"streakName":"Weekly","tier":"SILVER","bonus":1})"));
  ASSERT_TRUE(other.ok) << other.message;
  ASSERT_EQ(other.outputs.size(), 1U);
  EXPECT_EQ(at(other.body(), "/eventType"), R"("loyalty.other")");
  EXPECT_EQ(at(other.body(), "/_id"), quoted(uuid5("capillary:50001:ev-1:other")));
}

// ---------------------------------------------------------------- arrays and splits

TEST_F(MappingTest, ArrayMapping) {
  auto p = plan(event_output(R"(
            - to: loyalty.pointsGained
              from: /points
              array:
                when: {pointer: "@/value", exists: true}
                fields:
                  - {to: value, from: "@/value", type: number}
                  - {to: loyaltyProgramId, from: /programId, type: id}
                  - {to: promotionId, from: "@/promo/id", type: id}
            - {to: $tenant.codes, from: /codes, array: {type: upper}}
            - {to: $tenant.empty, from: /none, array: {fields: [{to: x, from: "@/x"}]}}
)"));
  ASSERT_NE(p, nullptr);
  const Outcome o = run(p, event(std::string("{") + kCustomer + R"(,"programId":1398.0,
    "points":[{"value":200},{"value":"61.5","promo":{"id":80542}},{"other":1}],
    "codes":["a"," b ",null,""],"none":[]})"));
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_EQ(
      at(o.body(), "/loyalty"),
      R"({"pointsGained":[{"value":200,"loyaltyProgramId":"1398"},{"value":61.5,"loyaltyProgramId":"1398","promotionId":"80542"}]})");
  EXPECT_EQ(at(o.body(), "/_acme/codes"), R"(["A","B"])");
  EXPECT_EQ(at(o.body(), "/_acme/empty"), "<absent>");

  const Outcome bad =
      run(p, event(std::string("{") + kCustomer + R"(,"points":[{"value":1},"secret"]})"));
  EXPECT_EQ(bad.code, "invalid-field");
  EXPECT_EQ(bad.message, "data.points[1]: expected an object, got a string");
  const Outcome bad_value =
      run(p, event(std::string("{") + kCustomer + R"(,"points":[{"value":1},{"value":[1]}]})"));
  EXPECT_EQ(bad_value.message,
            "data.points[1].value: expected a number or a numeric string, got an array");
  const Outcome not_array = run(p, event(std::string("{") + kCustomer + R"(,"codes":"a"})"));
  EXPECT_EQ(not_array.message, "data.codes: expected an array, got a string");
}

// What `platform setup` declares for a mapping route: every field under the tenant object with the
// JSON type its `type:`, constant or envelope field gives; a data-typed field has no type.
TEST_F(MappingTest, TenantFieldsCarryTheirTypes) {
  auto p = plan(event_output(R"(
            - {to: $tenant.capillary.level, from: /level, type: integer}
            - {to: $tenant.capillary.ratio, from: /ratio, type: number}
            - {to: $tenant.capillary.at, from: /at, type: date-time}
            - {to: $tenant.capillary.vip, from: /vip, type: boolean}
            - {to: $tenant.capillary.source, value: capillary}
            - {to: $tenant.capillary.count, value: 3}
            - {to: $tenant.capillary.raw, from: /raw}
            - {to: $tenant.codes, from: /codes, array: {type: upper}}
            - to: $tenant.tiers
              from: /tiers
              array:
                fields:
                  - {to: name, from: "@/name", type: string}
            - {to: loyalty.points, from: /points, type: number}
)",
                             "          envelope_fields: true\n"));
  ASSERT_NE(p, nullptr);
  const auto fields = p->routes().front().creator()->tenant_fields();
  std::map<std::string, std::string> got;
  for (const auto& f : fields) {
    EXPECT_EQ(f.kind, OutputKind::experience_event) << f.path;
    got[f.path] = f.type + (f.format.empty() ? "" : "/" + f.format);
  }
  const std::map<std::string, std::string> want = {{"capillary.level", "integer"},
                                                   {"capillary.ratio", "number"},
                                                   {"capillary.at", "string/date-time"},
                                                   {"capillary.vip", "boolean"},
                                                   {"capillary.source", "string"},
                                                   {"capillary.count", "integer"},
                                                   {"capillary.raw", ""},
                                                   {"codes[]", "string"},
                                                   {"tiers[].name", "string"},
                                                   {"capillary.orgId", "integer"},
                                                   {"capillary.eventId", "string"},
                                                   {"capillary.eventName", "string"},
                                                   {"capillary.refId", "string"},
                                                   {"capillary.apiRequestId", "string"},
                                                   {"capillary.loyaltyEventId", "string"}};
  EXPECT_EQ(got, want);
}

TEST_F(MappingTest, SplitOutputsWithIndexIdsNestedArraysAndElementIdentity) {
  auto p = plan(R"(      tenant: acme
      targets: {experience_event: events}
      outputs:
        - kind: experience_event
          event_type: loyalty.couponIssued
          split: /coupons
          identity: "@/customerIdentifiers"
          when: {pointer: "@/code", exists: true}
          fields:
            - {to: $tenant.capillary.couponCode, from: "@/code", type: trim}
            - {to: $tenant.capillary.seriesId, from: /series/id, type: id}
            - {to: $tenant.capillary.first, from: /coupons/0/code}
            - to: $tenant.capillary.levels
              from: "@/levels"
              array: {fields: [{to: name, from: "@/name"}, {to: series, from: /series/id, type: id}]}
)");
  ASSERT_NE(p, nullptr);
  const std::string data = R"({"series":{"id":77},"coupons":[
    {"code":"C1","customerIdentifiers":{"customerId":11},"levels":[{"name":"a"},{"name":"b"}]},
    {"customerIdentifiers":{"customerId":12}},
    {"code":"C3","customerIdentifiers":{"customerId":"13","instore":{"email":"X@Y.ORG"}}}]})";
  const Outcome o = run(p, event(data, "ev-split"));
  ASSERT_TRUE(o.ok) << o.message;
  ASSERT_EQ(o.outputs.size(), 2U);
  EXPECT_EQ(at(o.body(0), "/_id"), quoted(uuid5("capillary:50001:ev-split:0")));
  EXPECT_EQ(at(o.body(1), "/_id"), quoted(uuid5("capillary:50001:ev-split:2")));
  EXPECT_EQ(at(o.body(0), "/identityMap/capillaryCustomerId/0/id"), R"("11")");
  EXPECT_EQ(at(o.body(1), "/identityMap/capillaryCustomerId/0/id"), R"("13")");
  EXPECT_EQ(at(o.body(1), "/identityMap/Email/0/id"), R"("x@y.org")");
  EXPECT_EQ(at(o.body(0), "/_acme/capillary/levels"),
            R"([{"name":"a","series":"77"},{"name":"b","series":"77"}])");
  EXPECT_EQ(at(o.body(1), "/_acme/capillary/levels"), "<absent>");
  EXPECT_EQ(at(o.body(1), "/_acme/capillary/first"), R"("C1")");
  EXPECT_EQ(at(o.body(1), "/_acme/capillary/seriesId"), R"("77")");

  const Outcome bad =
      run(p, event(R"({"coupons":[{"code":"C1","customerIdentifiers":{"customerId":11},
    "levels":[{"name":"a"},{"name":{"x":1}}]}]})"));
  EXPECT_EQ(bad.code, "invalid-field");
  EXPECT_EQ(bad.message,
            "data.coupons[0].levels[1].name: expected a string, a number or a "
            "boolean, got an object");
  const Outcome no_customer = run(p, event(R"({"coupons":[{"code":"C1"}]})"));
  EXPECT_EQ(no_customer.code, "identity");
  EXPECT_EQ(no_customer.message,
            "no customer id: data.coupons[0].customerIdentifiers.customerId is missing (and "
            "there is no USER entityInformation.entityId)");
}

// ---------------------------------------------------------------- identity and profiles

TEST_F(MappingTest, IdentityRulesMatchTheCatalogue) {
  auto p = plan(event_output("            - {to: $tenant.x, value: x}\n"));
  ASSERT_NE(p, nullptr);
  const Outcome full = run(p, event(R"({"customerIdentifiers":{"customerId":510000101.0,
    "instore":{"email":" Asha.RAO@Example.IN ","mobile":"+91 96500-00000","externalId":" EXT-77 ",
    "cardnumber":"CARD-1","cardNumbers":["CARD-1","CARD-2",""]}}})"));
  ASSERT_TRUE(full.ok) << full.message;
  EXPECT_EQ(
      at(full.body(), "/identityMap"),
      R"({"capillaryCustomerId":[{"id":"510000101","authenticatedState":"authenticated","primary":true}],)"
      R"("Email":[{"id":"asha.rao@example.in","authenticatedState":"ambiguous","primary":false}],)"
      R"("Phone":[{"id":"+919650000000","authenticatedState":"ambiguous","primary":false}],)"
      R"("capillaryExternalId":[{"id":"EXT-77","authenticatedState":"ambiguous","primary":false}],)"
      R"("capillaryCardNumber":[{"id":"CARD-1","authenticatedState":"ambiguous","primary":false},{"id":"CARD-2","authenticatedState":"ambiguous","primary":false}]})");

  const Outcome hashed = run(p, event(R"({"customerIdentifiers":{"customerId":5,
    "Instore":{"email":"e59baa6df5a41d818608688fe3dcaccc","mobile":"12345"}}})"));
  ASSERT_TRUE(hashed.ok) << hashed.message;
  EXPECT_EQ(hashed.warnings, (std::vector<std::string>{"identity-hashed", "phone-not-e164"}));
  EXPECT_EQ(at(hashed.body(), "/identityMap/Email"), "<absent>");

  const Outcome user =
      run(p, event(R"({"entityInformation":{"entityType":"user","entityId":"77"}})"));
  ASSERT_TRUE(user.ok) << user.message;
  EXPECT_EQ(at(user.body(), "/identityMap/capillaryCustomerId/0/id"), R"("77")");

  EXPECT_EQ(run(p, event(R"({"customerIdentifiers":{}})")).code, "identity");
  EXPECT_EQ(run(p, event(R"({"customerIdentifiers":{"customerId":{"a":1}}})")).message,
            "data.customerIdentifiers.customerId is an object, not an id");
  EXPECT_EQ(run(p, event(R"({"customerIdentifiers":{"customerId":"-4"}})")).message,
            "data.customerIdentifiers.customerId is not a positive integer id");
  const Outcome wrong = run(p, event(R"({"customerIdentifiers":"510000101"})"));
  EXPECT_EQ(wrong.code, "invalid-field");
  EXPECT_EQ(wrong.message, "data.customerIdentifiers: expected an object, got a string");
}

TEST_F(MappingTest, ProfileOutputs) {
  auto p = plan(R"(      tenant: acme
      targets: {profile: profiles}
      identity: {customer_id_format: "{orgId}:{customerId}"}
      outputs:
        - kind: profile
          identity: /member
          fields:
            - {to: loyalty.tier, from: /tier, type: trim}
            - {to: loyalty.tierExpiryDate, from: /expiry, type: date-end-of-day}
            - {to: person.name.firstName, from: /member/firstName}
)");
  ASSERT_NE(p, nullptr);
  const Outcome o = run(p, event(R"({"member":{"customerId":42,"firstName":"石川"},"tier":" Gold ",
    "expiry":"2124-08-19"})"));
  ASSERT_TRUE(o.ok) << o.message;
  ASSERT_EQ(o.outputs.size(), 1U);
  EXPECT_EQ(o.outputs[0].kind, OutputKind::profile);
  EXPECT_EQ(o.outputs[0].target, "profiles");
  EXPECT_EQ(
      o.body(),
      R"({"identityMap":{"capillaryCustomerId":[{"id":"50001:42","authenticatedState":"authenticated","primary":true}]},)"
      R"("loyalty":{"tier":"Gold","tierExpiryDate":"2124-08-19T23:59:59.000Z"},"person":{"name":{"firstName":"石川"}},)"
      R"("extSourceSystemAudit":{"lastUpdatedDate":"2025-03-01T11:17:00.763Z"}})");
}

TEST_F(MappingTest, EnvelopeFieldsAndLoyaltyEventIdFallback) {
  auto p = plan(event_output("            - {to: $tenant.capillary.extra, value: x}\n",
                             "          envelope_fields: true\n"));
  ASSERT_NE(p, nullptr);
  const Outcome o = run(p, event(std::string("{") + kCustomer + R"(,"loyaltyEventId":" L-1 "})"));
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_EQ(
      at(o.body(), "/_acme/capillary"),
      R"({"orgId":50001,"eventId":"ev-1","eventName":"streakLevelAchieved","refId":"50001_r","apiRequestId":"api-1","loyaltyEventId":"L-1","extra":"x"})");

  auto bare = plan(event_output("            - {to: $tenant.capillary.extra, value: x}\n",
                                "          envelope_fields: false\n"));
  ASSERT_NE(bare, nullptr);
  EXPECT_EQ(at(run(bare, event(std::string("{") + kCustomer + "}")).body(), "/_acme"),
            R"({"capillary":{"extra":"x"}})");
}

TEST_F(MappingTest, SizeLimits) {
  const std::string fields = "            - {to: $tenant.x, from: /text}\n";
  auto send = plan(R"(      tenant: acme
      targets: {experience_event: events}
      limits: {experience_event_bytes: 300}
      outputs:
        - kind: experience_event
          event_type: loyalty.test
          fields:
)" + fields);
  ASSERT_NE(send, nullptr);
  const std::string big =
      event(std::string("{") + kCustomer + R"(,"text":")" + std::string(400, 'a') + R"("})");
  const Outcome sent = run(send, big);
  EXPECT_TRUE(sent.ok);
  EXPECT_EQ(sent.warnings, std::vector<std::string>{"oversize-experience-event"});

  auto dead = plan(R"(      tenant: acme
      targets: {experience_event: events}
      limits: {experience_event_bytes: 300, oversize: dead_letter}
      outputs:
        - kind: experience_event
          event_type: loyalty.test
          fields:
)" + fields);
  ASSERT_NE(dead, nullptr);
  EXPECT_EQ(run(dead, big).code, "too-large");
}

// ---------------------------------------------------------------- determinism and speed

TEST_F(MappingTest, DeterministicAndAllocationFreeOnceWarm) {
  const YAML::Node routes =
      YAML::LoadFile(source_dir() + "/config/mappings/streak-level-achieved.yaml");
  auto p = build(routes);
  ASSERT_NE(p, nullptr) << diags_.to_string();
  const auto input =
      read_lines(source_dir() + "/tests/golden/mapping/streakLevelAchieved/input.jsonl");
  ASSERT_GE(input.size(), 8U);
  Stage a(p);
  Stage b(p);
  for (const std::string& line : input) {
    const Outcome first = run(a, line);
    const Outcome again = run(a, line);
    const Outcome other = run(b, line);
    ASSERT_EQ(first.outputs.size(), again.outputs.size());
    ASSERT_EQ(first.outputs.size(), other.outputs.size());
    for (std::size_t i = 0; i < first.outputs.size(); ++i) {
      EXPECT_EQ(first.body(i), again.body(i));
      EXPECT_EQ(first.body(i), other.body(i));
    }
    EXPECT_EQ(first.code, again.code);
    EXPECT_EQ(first.message, again.message);
  }

  // The transform alone (apply on unwrapped envelopes), after one warm-up round.
  auto transform = p->routes().front().creator();
  std::vector<EnvelopeReader> readers(8);
  std::vector<Envelope> envelopes;
  std::vector<bridge::core::RecordView> views(8);
  for (std::size_t i = 0; i < 8; ++i) {
    views[i].payload = input[i];
    auto env = readers[i].read(input[i]);
    ASSERT_TRUE(env.has_value());
    envelopes.push_back(*env);
  }
  NullEmitter out;
  for (std::size_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(transform->apply(Input{views[i], envelopes[i]}, out).has_value());
  }
  bridge::testing::AllocationCount count;
  count.start();
  for (int round = 0; round < 10; ++round) {
    for (std::size_t i = 0; i < 8; ++i) {
      const auto r = transform->apply(Input{views[i], envelopes[i]}, out);
      EXPECT_TRUE(r.has_value());
    }
  }
  const long allocations = count.stop();
  if (bridge::testing::counts_allocations()) {
    EXPECT_EQ(allocations, 0);
  }

  // The whole stage as the pipeline runs it (envelope read, parsed once, routing, transform
  // walking the reader's document), warm.
  Stage warm(p);
  for (std::size_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(warm.process(views[i], out, nullptr).has_value());
  }
  count.start();
  for (int round = 0; round < 10; ++round) {
    for (std::size_t i = 0; i < 8; ++i) {
      EXPECT_TRUE(warm.process(views[i], out, nullptr).has_value());
    }
  }
  const long stage_allocations = count.stop();
  if (bridge::testing::counts_allocations()) {
    EXPECT_EQ(stage_allocations, 0);
  }

  // Rough throughput of the example mapping (printed, not asserted).
  constexpr int kRounds = 10000;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    const auto r = transform->apply(Input{views[0], envelopes[0]}, out);
    EXPECT_TRUE(r.has_value());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "streakLevelAchieved mapping: " << static_cast<long>(kRounds / seconds)
            << " events/s (apply only, " << input[0].size() << " input bytes)\n";
}

// ---------------------------------------------------------------- malformed input

// No null, no empty string, object or array anywhere in an output (Platform rejects them).
void check_clean(simdjson::dom::element e, const std::string& where,
                 std::vector<std::string>& problems) {
  switch (e.type()) {
    case simdjson::dom::element_type::NULL_VALUE:
      problems.push_back(where + " is null");
      break;
    case simdjson::dom::element_type::STRING:
      if (std::string_view(e).find_first_not_of(" \t\r\n") == std::string_view::npos) {
        problems.push_back(where + " is blank");
      }
      break;
    case simdjson::dom::element_type::OBJECT:
      if (simdjson::dom::object(e).size() == 0) {
        problems.push_back(where + " is an empty object");
      }
      for (const auto field : simdjson::dom::object(e)) {
        check_clean(field.value, where + "." + std::string(field.key), problems);
      }
      break;
    case simdjson::dom::element_type::ARRAY:
      if (simdjson::dom::array(e).size() == 0) {
        problems.push_back(where + " is an empty array");
      }
      for (const auto element : simdjson::dom::array(e)) {
        check_clean(element, where + "[]", problems);
      }
      break;
    default:
      break;
  }
}

// Every value of `data` in the example's events replaced by every JSON type, and every
// truncation of an event: a record maps (clean outputs) or is rejected with a documented
// reason; `invalid-field` names a path under `data`; the same input gives the same bytes.
TEST_F(MappingTest, MalformedInputMapsOrRejectsWithDocumentedReasons) {
  const YAML::Node routes =
      YAML::LoadFile(source_dir() + "/config/mappings/streak-level-achieved.yaml");
  auto p = build(routes);
  ASSERT_NE(p, nullptr) << diags_.to_string();
  Stage stage(p);
  const auto input =
      read_lines(source_dir() + "/tests/golden/mapping/streakLevelAchieved/input.jsonl");
  const std::vector<std::string> wrong = {R"({"k":{"x":[1,"y"]}})",
                                          "{}",
                                          R"([1,"x",{"k":null}])",
                                          "[]",
                                          R"("x")",
                                          R"("")",
                                          R"("   ")",
                                          "1e400",
                                          "123456789012345678901234567890",
                                          "-1",
                                          "1.5",
                                          "0",
                                          "true",
                                          "false",
                                          "null",
                                          std::string(300, '[') + std::string(300, ']')};
  const std::vector<std::string> documented = {"envelope", "identity", "invalid-field",
                                               "malformed-json", "encoding"};
  simdjson::dom::parser parser;
  std::map<std::string, int> tally;
  const auto check = [&](const std::string& payload) {
    const Outcome o = run(stage, payload);
    const Outcome again = run(stage, payload);
    ASSERT_EQ(o.outputs.size(), again.outputs.size());
    for (std::size_t i = 0; i < o.outputs.size(); ++i) {
      EXPECT_EQ(o.body(i), again.body(i));
      simdjson::dom::element doc;
      ASSERT_EQ(parser.parse(o.body(i)).get(doc), simdjson::SUCCESS) << o.body(i);
      std::vector<std::string> problems;
      check_clean(doc, "", problems);
      EXPECT_TRUE(problems.empty()) << problems.front() << " in " << o.body(i);
    }
    if (o.ok) {
      ++tally["ok"];
      return;
    }
    ++tally[o.code];
    EXPECT_NE(std::find(documented.begin(), documented.end(), o.code), documented.end())
        << o.code << ": " << o.message;
    if (o.code == "invalid-field") {
      EXPECT_EQ(o.message.rfind("data", 0), 0U) << o.message;
    }
  };
  for (std::size_t line = 0; line < 9 && line < input.size(); ++line) {
    // Replace each JSON value of the line by each wrong value, by its byte span.
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(input[line]).get(doc), simdjson::SUCCESS);
    const std::string& text = input[line];
    const std::size_t data_at = text.find(R"("data":)");
    ASSERT_NE(data_at, std::string::npos);
    // Spans of scalar and container values after `"data":`, found by a small scanner.
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    std::vector<std::size_t> open;
    bool in_string = false;
    std::size_t start = 0;
    for (std::size_t i = data_at + 7; i < text.size(); ++i) {
      const char c = text[i];
      if (in_string) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          in_string = false;
          if (text[i + 1] != ':') {
            spans.emplace_back(start, i + 1);
          }
        }
      } else if (c == '"') {
        in_string = true;
        start = i;
      } else if (c == '{' || c == '[') {
        open.push_back(i);
      } else if (c == '}' || c == ']') {
        if (open.empty()) {
          break;
        }
        spans.emplace_back(open.back(), i + 1);
        open.pop_back();
        if (open.empty()) {
          break;
        }
      } else if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
        std::size_t end = i;
        while (end < text.size() && text[end] != ',' && text[end] != '}' && text[end] != ']') {
          ++end;
        }
        spans.emplace_back(i, end);
        i = end - 1;
      }
    }
    ASSERT_GT(spans.size(), 2U);
    for (const auto& [from, to] : spans) {
      for (const std::string& w : wrong) {
        check(text.substr(0, from) + w + text.substr(to));
      }
    }
  }
  for (std::size_t cut = 0; cut < input[0].size(); ++cut) {
    check(input[0].substr(0, cut));
  }
  std::cout << "[reasons]";
  for (const auto& [reason, count] : tally) {
    std::cout << " " << reason << "=" << count;
  }
  std::cout << "\n";
  EXPECT_GT(tally["ok"], 100);
  EXPECT_GT(tally["invalid-field"], 10);
}

// ---------------------------------------------------------------- configuration errors

TEST_F(MappingTest, ConfigErrorsAreReportedWithLineAndColumnAllAtOnce) {
  const auto items = problems(R"(      tenant: acme
      targets: {experience_event: events}
      outputs:
        - kind: experience_event
          event_typo: x
          fields:
            - {to: $tenant.a, from: /a, type: integr}
            - {to: $tenant.b, from: "a/b"}
            - {to: commerc.order.priceTotal, from: /c}
            - {to: $tenant.d, from: /d}
            - {to: $tenant.d, from: /d2}
            - {to: $tenant.d.e, from: /e}
            - {to: $tenant.f, from: "@/f"}
            - {to: _id, from: /g}
            - {to: _other.h, from: /h}
            - {to: $tenant.i, value: null}
            - {to: $tenant.j, from: /j, type: integer, default: many}
            - {to: $tenant.capillary.eventId, from: /k}
            - {to: $tenant.l, from: /l, colour: red}
            - {to: $tenant.m, from: "/m~2"}
            - {to: $tenant.n, from: /n, value: x}
            - {to: $tenant.o, from: /o, when: {pointer: /o, equals: 1, in: [2]}}
            - {to: "$tenant.p..q", from: /p}
            - {to: $tenant.r, from: /r, array: {type: boolean}}
        - kind: profile
        - kind: experience_event
          event_type: loyalty.two
        - kind: experience_event
          event_type: loyalty.three
          split: "@/x"
)");
  // line (1-based in the YAML text) → a fragment of the message
  const std::vector<std::pair<int, std::string>> want = {
      {8, "unknown output key 'event_typo'"},
      {7, "an experience_event output needs `event_type`"},
      {10, "unknown type 'integr'"},
      {11, "is not a JSON pointer"},
      {12, "`commerc` is not a top-level field of an ExperienceEvent"},
      {14, "`to: _acme.d` is already written by the field at line 13"},
      {15, "needs `_acme.d` to be an object, but the field at line 13 writes a value there"},
      {16, "there is no `split` or `array` element here"},
      {17, "`_id` is written automatically"},
      {18, "the tenant object is `_acme`"},
      {19, "`value` is null"},
      {20, "`default` 'many' is not a valid integer value"},
      {21, "`_acme.capillary.eventId` is written automatically (envelope_fields: true)"},
      {22, "unknown field key 'colour'"},
      {23, "`~` must be followed by 0"},
      {24, "exactly one of `from` (a pointer), `from_envelope` or `value`"},
      {25, "exactly one of `equals`, `not_equals`, `in` or `exists`"},
      {26, "every segment must be a non-empty name"},
      {27, "arrays of booleans are not supported"},
      {28, "this profile output needs `targets.profile`"},
      {33, "there is no `split` or `array` element here"},
  };
  std::string all;
  for (const auto& d : items) {
    all += std::to_string(d.line) + ":" + std::to_string(d.column) + ": " + d.message + "\n";
    EXPECT_GT(d.line, 0) << d.message;
    EXPECT_GT(d.column, 0) << d.message;
    EXPECT_EQ(d.message.rfind("mapping: ", 0), 0U) << d.message;
  }
  for (const auto& [line, fragment] : want) {
    bool found = false;
    for (const auto& d : items) {
      found = found || (d.line == line && d.message.find(fragment) != std::string::npos);
    }
    EXPECT_TRUE(found) << "line " << line << ": " << fragment << "\n" << all;
  }
  EXPECT_EQ(items.size(), want.size()) << all;
}

TEST_F(MappingTest, TwoEventsWithOneIdAreAConfigError) {
  const auto items = problems(R"(      tenant: acme
      targets: {experience_event: events}
      outputs:
        - {kind: experience_event, event_type: loyalty.one}
        - {kind: experience_event, event_type: loyalty.two}
        - {kind: experience_event, event_type: loyalty.three, id_suffix: three}
        - {kind: experience_event, event_type: loyalty.four, when: {pointer: /x, exists: true}}
)");
  ASSERT_EQ(items.size(), 1U) << diags_.to_string();
  EXPECT_EQ(items[0].line, 8);
  EXPECT_NE(items[0].message.find("the one at line 7 would get the same `_id`"), std::string::npos)
      << items[0].message;
}

TEST_F(MappingTest, SharedSettingsErrorsAndMissingOutputs) {
  const auto missing = problems(R"(      tenant: acme
      targets: {experience_event: events}
      outptus: []
)");
  ASSERT_EQ(missing.size(), 2U) << diags_.to_string();
  EXPECT_NE(missing[0].message.find("unknown setting 'outptus'"), std::string::npos);
  EXPECT_EQ(missing[0].line, 6);
  EXPECT_NE(missing[1].message.find("`outputs` is required"), std::string::npos);

  const auto target = problems(R"(      tenant: acme
      targets: {experience_event: nowhere}
      outputs:
        - {kind: experience_event, event_type: x}
)");
  ASSERT_EQ(target.size(), 1U) << diags_.to_string();
  EXPECT_NE(target[0].message.find("unknown target 'nowhere'"), std::string::npos);
}

}  // namespace
}  // namespace transforms

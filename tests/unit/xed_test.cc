// bridge::xed: schemas resolved as the Schema Registry's xed-full, and Platform's streaming
// validation against them.
#include "bridge/xed/xed.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace bridge::xed {
namespace {

std::filesystem::path source_dir() {
  const char* dir = std::getenv("BRIDGE_SOURCE_DIR");
  EXPECT_NE(dir, nullptr) << "run through ctest: it sets BRIDGE_SOURCE_DIR";
  return dir == nullptr ? std::filesystem::path(".") : std::filesystem::path(dir);
}

json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  EXPECT_TRUE(in) << "cannot read " << file;
  std::ostringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

const std::vector<std::string> kProfile = {
    std::string(kProfileClass),
    std::string(kIdentityMap),
    "https://ns.adobe.com/xdm/context/profile-person-details",
    "https://ns.adobe.com/xdm/context/profile-personal-details",
    "https://ns.adobe.com/xdm/mixins/profile/profile-loyalty-details",
    "https://ns.adobe.com/xdm/common/external-source-system-audit-details"};
const std::vector<std::string> kEvent = {
    std::string(kEventClass), std::string(kIdentityMap),
    "https://ns.adobe.com/xdm/context/experienceevent-commerce",
    "https://ns.adobe.com/xdm/context/experienceevent-loyalty-details"};
constexpr const char* kTenantGroup = "https://ns.adobe.com/acme/mixins/1";

// The tenant field group `platform setup` makes from transforms/capillary/tenant-fields.json,
// for tenant `acme` (the golden files' tenant).
json tenant_group() {
  json group;
  group["definitions"]["capillary"]["properties"]["_acme"] = {
      {"type", "object"},
      {"properties",
       {{"capillary", read_json(source_dir() / "transforms/capillary/tenant-fields.json")
                          .at("experience_event")}}}};
  return group;
}

json resolved(std::vector<std::string> extends, const json* tenant = nullptr) {
  auto r = resolve(extends, [&](const std::string& id) -> const json* {
    return id == kTenantGroup ? tenant : nullptr;
  });
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : json();
}

std::shared_ptr<const Validator> validator(const json& schema) {
  auto v = Validator::compile(schema);
  EXPECT_TRUE(v) << v.error().message;
  return v ? *v : nullptr;
}

bool has_ref(const json& node) {
  if (node.is_object()) {
    if (node.contains("$ref")) {
      return true;
    }
    for (const auto& [k, v] : node.items()) {
      if (has_ref(v)) {
        return true;
      }
    }
  }
  if (node.is_array()) {
    for (const auto& v : node) {
      if (has_ref(v)) {
        return true;
      }
    }
  }
  return false;
}

json golden_event() {
  return json::parse(R"({
    "_id": "5d33bc2b", "timestamp": "2025-03-01T11:00:00.140Z", "eventType": "commerce.purchases",
    "identityMap": {"capillaryCustomerId": [{"id": "1", "primary": true}]},
    "commerce": {"order": {"priceTotal": 84.5, "currencyCode": "USD"}},
    "_acme": {"capillary": {"orgId": 50, "eventName": "transactionAdded"}}})");
}

TEST(Resolve, EveryFieldOfTheContractSchemasComesFromExactlyTheStandardGroups) {
  for (const auto& [extends, file] : {std::pair{kProfile, "profile.schema.json"},
                                      std::pair{kEvent, "experience-event.schema.json"}}) {
    const json contract = read_json(source_dir() / "bridge/xed/schemas" / file);
    std::set<std::string> want;
    for (const auto& [k, v] : contract.at("properties").items()) {
      want.insert(k);
    }
    std::set<std::string> got;
    const json schema = resolved(extends);
    for (const auto& [k, v] : schema.at("properties").items()) {
      got.insert(k);
    }
    EXPECT_EQ(got, want) << file;
    EXPECT_FALSE(has_ref(schema)) << file << ": a $ref is left in the resolved form";
  }
}

TEST(Resolve, OnlyTheGroupsASchemaExtendsBringFields) {
  const json schema = resolved({std::string(kEventClass), std::string(kIdentityMap)});
  EXPECT_TRUE(schema["properties"].contains("identityMap"));
  EXPECT_TRUE(schema["properties"].contains("timestamp"));
  EXPECT_FALSE(schema["properties"].contains("commerce"));
  EXPECT_EQ(schema["required"], json({"_id", "timestamp"}));
}

TEST(Resolve, MergesTenantGroupsAndRefusesUnknownsAndClasslessSchemas) {
  const json tenant = tenant_group();
  auto with = kEvent;
  with.emplace_back(kTenantGroup);
  const json schema = resolved(with, &tenant);
  EXPECT_TRUE(
      schema["properties"]["_acme"]["properties"]["capillary"]["properties"].contains("eventName"));

  auto unknown = resolve({std::string(kEventClass), "https://ns.adobe.com/acme/mixins/nope"},
                         [](const std::string&) -> const json* { return nullptr; });
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("mixins/nope"), std::string::npos);
  auto classless = resolve({std::string(kIdentityMap)},
                           [](const std::string&) -> const json* { return nullptr; });
  ASSERT_FALSE(classless);
  auto two = resolve({std::string(kEventClass), std::string(kProfileClass)},
                     [](const std::string&) -> const json* { return nullptr; });
  EXPECT_FALSE(two);
}

TEST(Validate, EveryGoldenOutputIsValidAgainstTheSchemasSetupCreates) {
  const json tenant = tenant_group();
  auto profile = kProfile;
  auto event = kEvent;
  event.emplace_back(kTenantGroup);
  const auto profile_v = validator(resolved(profile, &tenant));
  const auto event_v = validator(resolved(event, &tenant));
  ASSERT_TRUE(profile_v && event_v);
  std::size_t checked = 0;
  for (const auto& dir :
       std::filesystem::directory_iterator(source_dir() / "tests/golden/capillary")) {
    const auto file = dir.path() / "expected.jsonl";
    if (!std::filesystem::exists(file)) {
      continue;
    }
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      const json message = json::parse(line);
      const json& entity = message.at("body").at("xdmEntity");
      const bool is_event = entity.contains("timestamp");
      const auto violations = (is_event ? event_v : profile_v)->validate(entity);
      std::string text;
      for (const auto& v : violations) {
        text += v.pointer + " " + v.message + "\n";
      }
      EXPECT_TRUE(violations.empty()) << file << ": " << text;
      ++checked;
    }
  }
  EXPECT_GT(checked, 100U);
}

TEST(Validate, NamesEachViolationWithPointerAndKeyword) {
  const json tenant = tenant_group();
  auto event = kEvent;
  event.emplace_back(kTenantGroup);
  const auto v = validator(resolved(event, &tenant));
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->validate(golden_event()).empty());

  struct Case {
    const char* what;
    std::function<void(json&)> change;
    const char* pointer;
    const char* keyword;
    const char* message;  // or empty: not compared
  };
  const std::vector<Case> cases = {
      {"wrong type", [](json& e) { e["commerce"]["order"]["priceTotal"] = "84.5"; },
       "#/commerce/order/priceTotal", "type", ""},
      {"undeclared tenant field", [](json& e) { e["_acme"]["capillary"]["notDeclared"] = "x"; },
       "#/_acme/capillary", "additionalProperties",
       "extraneous key [notDeclared] is not permitted"},
      {"undeclared standard field", [](json& e) { e["commerce"]["order"]["color"] = "red"; },
       "#/commerce/order", "additionalProperties", "extraneous key [color] is not permitted"},
      {"missing required", [](json& e) { e.erase("timestamp"); }, "#", "required", ""},
  };
  for (const auto& c : cases) {
    json entity = golden_event();
    c.change(entity);
    const auto violations = v->validate(entity);
    ASSERT_EQ(violations.size(), 1U) << c.what;
    EXPECT_EQ(violations[0].pointer, c.pointer) << c.what;
    EXPECT_EQ(violations[0].keyword, c.keyword) << c.what;
    if (*c.message != '\0') {
      EXPECT_EQ(violations[0].message, c.message) << c.what;
    }
  }

  json bad_date = golden_event();
  bad_date["timestamp"] = "yesterday";
  const auto violations = v->validate(bad_date);
  ASSERT_FALSE(violations.empty());
  EXPECT_EQ(violations[0].pointer, "#/timestamp");
}

TEST(Validate, WithoutTheTenantGroupTheTenantObjectIsExtraneous) {
  const auto v = validator(resolved(kEvent));
  ASSERT_TRUE(v);
  const auto violations = v->validate(golden_event());
  ASSERT_EQ(violations.size(), 1U);
  EXPECT_EQ(violations[0].message, "extraneous key [_acme] is not permitted");
}

TEST(StreamingValidation, IsPlatformsReportShapeWithAtMostFiveCauses) {
  std::vector<Violation> many;
  for (int i = 0; i < 7; ++i) {
    many.push_back({"#/productListItems/" + std::to_string(i) + "/quantity", "type", "bad"});
  }
  const json report = streaming_validation(many);
  EXPECT_EQ(report["pointerToViolation"], "#");
  ASSERT_EQ(report["causingExceptions"].size(), 5U);
  EXPECT_EQ(report["causingExceptions"][0]["schemaLocation"],
            "#/properties/productListItems/items/properties/quantity");
  EXPECT_EQ(report["causingExceptions"][0]["pointerToViolation"], "#/productListItems/0/quantity");
  EXPECT_EQ(report["causingExceptions"][0]["keyword"], "type");
  EXPECT_EQ(report["message"], "5 schema violations found");
}

}  // namespace
}  // namespace bridge::xed

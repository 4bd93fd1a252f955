// The capillary transform's behaviour beyond the golden files: Platform's size limits (counted,
// then sent or dead-lettered as configured), warnings, outputs switched off by target, and a
// warmed-up transform producing identical bytes on every call.

#include "transforms/capillary/capillary.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bridge/core/diagnostics.h"
#include "tests/harness/alloc_count.h"
#include "transforms/api/envelope.h"
#include "transforms/api/registry.h"
#include "transforms/api/router.h"
#include "transforms/builtin/builtin.h"

namespace transforms {
namespace {

struct Recorder final : Emitter {
  struct Out {
    OutputKind kind;
    std::string target;
    std::string body;
  };
  std::vector<Out> outputs;
  std::map<std::string, int> warnings;
  void emit(OutputKind kind, const Target& target, std::string_view body) override {
    outputs.push_back({kind, target.name, std::string(body)});
  }
  void emit_unchanged(OutputKind, const Target&) override { ADD_FAILURE() << "unexpected"; }
  void warning(std::string_view code) override { ++warnings[std::string(code)]; }
};

std::shared_ptr<const RouterPlan> plan(const std::string& settings) {
  Registry registry;
  register_builtin_transforms(registry);
  auto targets = std::make_shared<std::vector<Target>>(2);
  (*targets)[0].name = "profiles";
  (*targets)[1].name = "events";
  RouteSpec spec;
  spec.transform = "capillary";
  spec.settings = YAML::Load(settings);
  bridge::core::Diagnostics diags("test");
  auto built = RouterPlan::build({spec}, registry, targets, diags);
  EXPECT_TRUE(built) << diags.to_string();
  return built ? std::make_shared<const RouterPlan>(std::move(*built)) : nullptr;
}

Result<void> run(const std::shared_ptr<const RouterPlan>& p, const std::string& payload,
                 Recorder& out) {
  Stage stage(p);
  bridge::core::RecordView view;
  view.payload = payload;
  return stage.process(view, out, nullptr);
}

std::string transaction_with_items(int items) {
  std::string lines;
  for (int i = 0; i < items; ++i) {
    lines += (i ? "," : "") + std::string(R"({"itemCode":"SKU-)") + std::to_string(i) +
             R"(","description":"An item with a long enough description","qty":1,"amount":10})";
  }
  return R"({"eventName":"transactionAdded","eventId":"t-1","orgId":50001,"createdAt":1740000000000,)"
         R"("data":{"customerIdentifiers":{"customerId":42},"transactionId":1,"amount":10,)"
         R"("currencyCode":"USD","lineItems":[)" +
         lines + "]}}";
}

TEST(CapillaryTest, OversizeEventIsCountedAndSentByDefault) {
  const auto p = plan("{tenant: acme, targets: {experience_event: events}}");
  Recorder out;
  ASSERT_TRUE(run(p, transaction_with_items(200), out));
  ASSERT_EQ(out.outputs.size(), 1U);
  EXPECT_GT(out.outputs[0].body.size(), 10U * 1024);
  EXPECT_EQ(out.warnings["oversize-experience-event"], 1);
}

TEST(CapillaryTest, OversizeEventIsDeadLetteredWhenConfigured) {
  const auto p = plan(
      "{tenant: acme, targets: {experience_event: events}, "
      "limits: {experience_event_bytes: 4096, oversize: dead_letter}}");
  Recorder out;
  const auto small = run(p, transaction_with_items(2), out);
  ASSERT_TRUE(small);
  out.outputs.clear();
  const auto r = run(p, transaction_with_items(60), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "too-large");
  EXPECT_NE(r.error().message.find("over the 4096-byte limit"), std::string::npos);
  EXPECT_TRUE(out.outputs.empty());
}

TEST(CapillaryTest, TargetsChooseTheOutputs) {
  const std::string points =
      R"({"eventName":"pointsIssued","eventId":"p-1","orgId":50001,"createdAt":1740000000000,)"
      R"("data":{"customerIdentifiers":{"customerId":42},"loyaltyProgramId":7,)"
      R"("totalPointsIssued":10,"programCurrentPoints":20}})";
  Recorder both;
  ASSERT_TRUE(run(plan("{tenant: acme, targets: {profile: profiles, experience_event: events}}"),
                  points, both));
  ASSERT_EQ(both.outputs.size(), 2U);
  EXPECT_EQ(both.outputs[0].target, "events");
  EXPECT_EQ(both.outputs[0].kind, OutputKind::experience_event);
  EXPECT_EQ(both.outputs[1].target, "profiles");
  EXPECT_EQ(both.outputs[1].kind, OutputKind::profile);
  Recorder profile_only;
  ASSERT_TRUE(run(plan("{tenant: acme, targets: {profile: profiles}}"), points, profile_only));
  ASSERT_EQ(profile_only.outputs.size(), 1U);
  EXPECT_EQ(profile_only.outputs[0].body, both.outputs[1].body);
}

TEST(CapillaryTest, WarningsNameWhatWasLeftOut) {
  const auto p = plan("{tenant: acme, targets: {profile: profiles, experience_event: events}}");
  Recorder out;
  ASSERT_TRUE(run(
      p,
      R"({"eventName":"pointsIssued","eventId":"p-2","orgId":50001,"createdAt":1740000000000,)"
      R"("data":{"customerIdentifiers":{"customerId":42,"instore":{"email":"nope","mobile":"e59baa6df5a41d818608688fe3dcaccc"}},)"
      R"("regularPointsBreakup":[{"points":5,"expiryAt":"someday"}]}})",
      out));
  EXPECT_EQ(out.warnings["unparseable-time"], 1);
  EXPECT_EQ(out.warnings["identity-invalid-email"], 1);
  EXPECT_EQ(out.warnings["identity-hashed"], 1);
  for (const auto& o : out.outputs) {
    EXPECT_EQ(o.body.find("nope"), std::string::npos);
    EXPECT_EQ(o.body.find("someday"), std::string::npos);
  }
}

TEST(CapillaryTest, AWarmTransformRepeatsItselfByteForByte) {
  const auto p = plan("{tenant: acme, targets: {profile: profiles, experience_event: events}}");
  Stage stage(p);
  const std::string payload = transaction_with_items(3);
  bridge::core::RecordView view;
  view.payload = payload;
  std::string first;
  for (int i = 0; i < 100; ++i) {
    Recorder out;
    ASSERT_TRUE(stage.process(view, out, nullptr));
    ASSERT_EQ(out.outputs.size(), 1U);
    if (i == 0) {
      first = out.outputs[0].body;
    }
    EXPECT_EQ(out.outputs[0].body, first);
  }
}

// Issue 14's "no per-record heap allocation": a warm stage (envelope read, parsed once, routing,
// the catalogue walking the reader's document and writing its outputs into reused buffers)
// allocates nothing for a record that maps, for the first line of every catalogue event's
// golden input. Rejects are left out: their reason message is a new string by design.
TEST(CapillaryTest, AWarmStageAllocatesNothingPerRecord) {
  struct Counting final : Emitter {
    std::size_t bytes = 0;
    void emit(OutputKind, const Target&, std::string_view body) override { bytes += body.size(); }
    void emit_unchanged(OutputKind, const Target&) override {}
  };
  const auto p = plan(
      "{tenant: acme, targets: {profile: profiles, experience_event: events}, "
      "org_timezones: {50001: '+05:30'}, default_currency: USD}");
  Stage stage(p);
  std::vector<std::string> payloads;
  const std::string dir =
      std::string(std::getenv("BRIDGE_SOURCE_DIR")) + "/tests/golden/capillary/";
  for (const std::string_view event : capillary::mapped_events()) {
    std::ifstream in(dir + std::string(event) + "/input.jsonl");
    std::string line;
    ASSERT_TRUE(std::getline(in, line)) << event;
    payloads.push_back(line);
  }
  Counting out;
  std::vector<bool> maps;
  for (const std::string& payload : payloads) {
    bridge::core::RecordView view;
    view.payload = payload;
    maps.push_back(stage.process(view, out, nullptr).has_value());
  }
  ASSERT_GE(std::count(maps.begin(), maps.end(), true), 15) << "most first lines map";
  bridge::testing::AllocationCount count;
  count.start();
  for (int round = 0; round < 5; ++round) {
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      if (!maps[i]) {
        continue;
      }
      bridge::core::RecordView view;
      view.payload = payloads[i];
      EXPECT_TRUE(stage.process(view, out, nullptr).has_value());
    }
  }
  const long allocations = count.stop();
  EXPECT_GT(out.bytes, 0U);
  if (bridge::testing::counts_allocations()) {
    EXPECT_EQ(allocations, 0) << "allocations in 5 rounds over the warm catalogue";
  }
}

}  // namespace
}  // namespace transforms

// RouterPlan, Stage, Registry and the passthrough transform: route matching (first match wins),
// unmapped records, configuration diagnostics with line:column, and the unchanged output.

#include "transforms/api/router.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "transforms/api/registry.h"
#include "transforms/builtin/builtin.h"
#include "transforms/passthrough/passthrough.h"

namespace transforms {
namespace {

struct Output {
  OutputKind kind;
  const Target* target;
  std::string body;
  bool unchanged;
};

class RecordingEmitter final : public Emitter {
 public:
  void emit(OutputKind kind, const Target& target, std::string_view body) override {
    outputs.push_back({kind, &target, std::string(body), false});
  }
  void emit_unchanged(OutputKind kind, const Target& target) override {
    outputs.push_back({kind, &target, {}, true});
  }
  std::vector<Output> outputs;
};

// A test transform that emits its configured `label` so a test can see which route ran.
// Counts create() calls and instances.
class LabelFactory final : public TransformFactory {
 public:
  [[nodiscard]] std::string_view name() const override { return "label"; }
  [[nodiscard]] TransformCreator create(const FactoryContext& ctx) const override {
    ++creates;
    const std::string label = ctx.settings["label"].as<std::string>("");
    const Target* target = ctx.targets("default");
    int* counter = &instances;
    return [label, target, counter]() -> std::unique_ptr<Transform> {
      ++*counter;
      return std::make_unique<Impl>(label, *target);
    };
  }
  mutable int creates = 0;
  mutable int instances = 0;

 private:
  class Impl final : public Transform {
   public:
    Impl(std::string label, const Target& target) : label_(std::move(label)), target_(target) {}
    Result<void> apply(const Input& input, Emitter& out) override {
      out.emit(OutputKind::raw, target_, label_ + ":" + std::string(input.envelope.event_name));
      return {};
    }

   private:
    std::string label_;
    const Target& target_;
  };
};

std::shared_ptr<const std::vector<Target>> make_targets() {
  auto targets = std::make_shared<std::vector<Target>>();
  Target fallback;
  fallback.name = "default";
  targets->push_back(fallback);
  Target profiles;
  profiles.name = "profiles";
  profiles.dataset_id = "ds-profile";
  profiles.schema_ref = "https://ns.example.com/schema";
  profiles.flow_id = "flow-1";
  targets->push_back(profiles);
  return targets;
}

// Routes as the config loader hands them over: parsed from YAML, with real marks.
std::vector<RouteSpec> specs_from(const std::string& yaml) {
  const YAML::Node root = YAML::Load(yaml);
  std::vector<RouteSpec> specs;
  for (const auto& r : root["routes"]) {
    std::vector<std::string> topics;
    std::vector<std::string> events;
    if (r["topics"]) {
      topics = r["topics"].as<std::vector<std::string>>();
    }
    if (r["events"]) {
      events = r["events"].as<std::vector<std::string>>();
    }
    // A missing `settings:` stays an undefined node, as the config loader passes it.
    specs.push_back({topics, events, r["transform"].as<std::string>(""), r["settings"], r.Mark()});
  }
  return specs;
}

std::string event(const std::string& name) {
  return R"({"eventName":")" + name +
         R"(","eventId":"id-1","orgId":50001,"createdAt":1,"data":{}})";
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    register_builtin_transforms(registry_);
    auto label = std::make_unique<LabelFactory>();
    label_ = label.get();
    registry_.add(std::move(label));
  }

  std::shared_ptr<const RouterPlan> plan(const std::string& yaml) {
    diags_ = bridge::core::Diagnostics("bridge.yaml");
    auto built = RouterPlan::build(specs_from(yaml), registry_, targets_, diags_);
    EXPECT_TRUE(built.has_value()) << diags_.to_string();
    EXPECT_TRUE(diags_.ok()) << diags_.to_string();
    if (!built) {
      return nullptr;
    }
    return std::make_shared<const RouterPlan>(std::move(*built));
  }

  // The diagnostics of a configuration that must not build.
  std::vector<bridge::core::Diagnostic> problems(const std::string& yaml) {
    diags_ = bridge::core::Diagnostics("bridge.yaml");
    auto built = RouterPlan::build(specs_from(yaml), registry_, targets_, diags_);
    EXPECT_FALSE(built.has_value());
    EXPECT_FALSE(diags_.ok());
    return diags_.items();
  }

  // Runs one record through `stage`; returns the emitted body (or the error code).
  std::string run(Stage& stage, const std::string& topic, const std::string& payload) {
    payload_ = payload;
    bridge::core::RecordView view;
    view.topic = topic;
    view.payload = payload_;
    RecordingEmitter out;
    std::string_view name;
    auto r = stage.process(view, out, &name);
    last_event_ = std::string(name);
    if (!r) {
      last_error_ = r.error();
      return "error:" + r.error().code;
    }
    EXPECT_EQ(out.outputs.size(), 1U);
    return out.outputs.empty() ? "" : out.outputs.front().body;
  }

  Registry registry_;
  LabelFactory* label_ = nullptr;
  std::shared_ptr<const std::vector<Target>> targets_ = make_targets();
  bridge::core::Diagnostics diags_;
  std::string payload_;
  std::string last_event_;
  bridge::core::Error last_error_;
};

TEST_F(RouterTest, FirstMatchWins) {
  auto p = plan(R"(
routes:
  - topics: [loyalty]
    events: [pointsIssued]
    transform: label
    settings: {label: first}
  - topics: [loyalty]
    transform: label
    settings: {label: second}
  - transform: label
    settings: {label: third}
  - transform: label
    settings: {label: never}
)");
  Stage stage(p);
  EXPECT_EQ(run(stage, "loyalty", event("pointsIssued")), "first:pointsIssued");
  EXPECT_EQ(stage.last_transform(), "label");
  EXPECT_EQ(run(stage, "loyalty", event("customerAdded")), "second:customerAdded");
  EXPECT_EQ(run(stage, "other", event("pointsIssued")), "third:pointsIssued");
  EXPECT_EQ(p->match("other", "x"), 2U);
}

TEST_F(RouterTest, TopicAndEventFilters) {
  auto p = plan(R"(
routes:
  - events: [CouponIssue, CouponRedeem]
    transform: label
    settings: {label: coupons}
  - topics: [txn-a, txn-b]
    events: [transactionAdded]
    transform: label
    settings: {label: txn}
  - topics: [customers]
    transform: label
    settings: {label: customers}
)");
  Stage stage(p);
  EXPECT_EQ(run(stage, "anything", event("CouponRedeem")), "coupons:CouponRedeem");
  EXPECT_EQ(run(stage, "txn-b", event("transactionAdded")), "txn:transactionAdded");
  EXPECT_EQ(run(stage, "customers", event("customerUpdated")), "customers:customerUpdated");
  EXPECT_EQ(run(stage, "txn-c", event("transactionAdded")), "error:unmapped");
  EXPECT_EQ(run(stage, "txn-a", event("transactionUpdated")), "error:unmapped");
  EXPECT_EQ(run(stage, "customers", event("couponissue")), "customers:couponissue");
}

TEST_F(RouterTest, UnmappedIsRejectedWithTopicAndEvent) {
  Stage stage(plan(R"(
routes:
  - topics: [loyalty]
    transform: passthrough
    settings: {target: default}
)"));
  EXPECT_EQ(run(stage, "capillary.other", event("tierUpgraded")), "error:unmapped");
  EXPECT_EQ(last_error_.kind, bridge::core::ErrorKind::reject);
  EXPECT_NE(last_error_.message.find("capillary.other"), std::string::npos) << last_error_.message;
  EXPECT_NE(last_error_.message.find("tierUpgraded"), std::string::npos) << last_error_.message;
  EXPECT_EQ(last_event_, "tierUpgraded");
  EXPECT_TRUE(stage.last_transform().empty());
}

TEST_F(RouterTest, EnvelopeErrorsComeBackAsTheyAre) {
  Stage stage(plan("routes:\n  - transform: passthrough\n    settings: {target: default}\n"));
  EXPECT_EQ(run(stage, "t", R"({"eventName": "transactionAdded", "data": {"amount": 12)"),
            "error:malformed-json");
  EXPECT_TRUE(last_event_.empty());
  EXPECT_TRUE(stage.last_transform().empty());
  EXPECT_EQ(run(stage, "t", R"({"eventId":"x"})"), "error:envelope");
  EXPECT_EQ(run(stage, "t", "{\"eventName\":\"\xff\"}"), "error:encoding");
  // A good record after errors still goes through.
  EXPECT_EQ(run(stage, "t", event("pointsIssued")), "");
  EXPECT_EQ(stage.last_transform(), "passthrough");
  EXPECT_EQ(last_event_, "pointsIssued");
}

// Parse once: the stage leaves `data` unchecked in the envelope read, and every path checks it
// before deciding anything else, so broken JSON inside `data` is `malformed-json` whatever the
// route: a passthrough (which does not walk data), no route at all, and the catalogue, which
// validates data itself while capturing it, also for an event it does not know and for values
// it does not read.
TEST_F(RouterTest, BrokenDataIsMalformedJsonOnEveryPath) {
  const std::string broken_unused =
      R"({"eventName":"transactionAdded","eventId":"id-1","orgId":50001,"createdAt":1,)"
      R"("data":{"amount":1,"customerIdentifiers":{"customerId":7},"notRead":{"x":[1,tru]}}})";
  const std::string broken_unknown_event =
      R"({"eventName":"noSuchEvent","eventId":"id-1","orgId":50001,"createdAt":1,)"
      R"("data":{"x":01}})";
  const std::string broken_wrapped =
      R"({"eventType":"50001_transactionAdded","attributes":{"eventId":"e","createdAt":1,)"
      R"("data":{"lineItems":[{"qty":1,"junk":"\q"}]}}})";
  Stage passthrough(plan("routes:\n  - transform: passthrough\n    settings: {target: default}\n"));
  Stage catalogue(plan(R"(
routes:
  - topics: [capillary]
    transform: capillary
    settings: {tenant: acme, targets: {profile: profiles, experience_event: default}}
)"));
  for (const std::string* payload : {&broken_unused, &broken_unknown_event, &broken_wrapped}) {
    EXPECT_EQ(run(passthrough, "t", *payload), "error:malformed-json") << *payload;
    EXPECT_EQ(run(catalogue, "capillary", *payload), "error:malformed-json") << *payload;
    EXPECT_EQ(run(catalogue, "no-route-here", *payload), "error:malformed-json") << *payload;
  }
  // The same events mended go through (the catalogue) or are refused for what they are.
  std::string mended = broken_unused;
  mended.replace(mended.find("tru]"), 3, "true");
  EXPECT_EQ(run(catalogue, "capillary", mended).rfind("error:", 0), std::string::npos)
      << last_error_.code << ": " << last_error_.message;
  std::string unknown = broken_unknown_event;
  unknown.replace(unknown.find(":01}"), 4, ":1}");
  EXPECT_EQ(run(catalogue, "capillary", unknown), "error:unmapped");
  EXPECT_EQ(run(catalogue, "no-route-here", unknown), "error:unmapped");
}

TEST_F(RouterTest, NullPlanMapsNothing) {
  Stage stage(nullptr);
  EXPECT_EQ(run(stage, "t", event("pointsIssued")), "error:unmapped");
}

TEST_F(RouterTest, UnknownTransformIsReportedAtTheRoute) {
  const auto items = problems(R"(routes:
  - topics: [loyalty]
    transform: passthrough
    settings: {target: default}
  - topics: [loyalty]
    transform: xdm-profile
)");
  ASSERT_EQ(items.size(), 1U);
  EXPECT_EQ(items[0].file, "bridge.yaml");
  EXPECT_EQ(items[0].line, 5);
  EXPECT_EQ(items[0].column, 5);
  EXPECT_NE(items[0].message.find("unknown transform 'xdm-profile'"), std::string::npos)
      << items[0].message;
  EXPECT_NE(items[0].message.find("label, mapping, passthrough"), std::string::npos)
      << items[0].message;
}

TEST_F(RouterTest, AllProblemsAreReportedInOneRun) {
  const auto items = problems(R"(routes:
  - transform: nope
  - transform: passthrough
    settings:
      target: missing
      kind: xml
      colour: blue
  - transform: passthrough
)");
  ASSERT_EQ(items.size(), 5U) << diags_.to_string();
  // unknown transform, at the route
  EXPECT_EQ(items[0].line, 2);
  EXPECT_EQ(items[0].column, 5);
  // unknown target, at the value
  EXPECT_EQ(items[1].line, 5);
  EXPECT_EQ(items[1].column, 15);
  EXPECT_NE(items[1].message.find("unknown target 'missing'"), std::string::npos);
  // bad kind, at the value
  EXPECT_EQ(items[2].line, 6);
  EXPECT_EQ(items[2].column, 13);
  EXPECT_NE(items[2].message.find("raw, profile, experience_event"), std::string::npos);
  // unknown key, at the key
  EXPECT_EQ(items[3].line, 7);
  EXPECT_EQ(items[3].column, 7);
  EXPECT_NE(items[3].message.find("unknown setting 'colour'"), std::string::npos);
  // no settings at all: the route's position
  EXPECT_EQ(items[4].line, 8);
  EXPECT_EQ(items[4].column, 5);
  EXPECT_NE(items[4].message.find("target"), std::string::npos);
}

TEST_F(RouterTest, PassthroughSettingsShape) {
  auto items = problems("routes:\n  - transform: passthrough\n    settings: [default]\n");
  ASSERT_EQ(items.size(), 1U);
  EXPECT_EQ(items[0].line, 3);
  EXPECT_EQ(items[0].column, 15);
  EXPECT_NE(items[0].message.find("must be a map"), std::string::npos);

  items = problems("routes:\n  - transform: passthrough\n    settings:\n      kind: raw\n");
  ASSERT_EQ(items.size(), 1U);
  EXPECT_EQ(items[0].line, 4);
  EXPECT_NE(items[0].message.find("`target` is required"), std::string::npos);

  items = problems(
      "routes:\n  - transform: passthrough\n    settings:\n      target: {name: default}\n");
  ASSERT_EQ(items.size(), 1U);
  EXPECT_EQ(items[0].line, 4);
  EXPECT_EQ(items[0].column, 15);
}

TEST_F(RouterTest, PassthroughEmitsUnchangedToItsTarget) {
  std::shared_ptr<const RouterPlan> p = plan(R"(
routes:
  - events: [customerAdded]
    transform: passthrough
    settings: {target: profiles, kind: profile}
  - transform: passthrough
    settings: {target: default}
)");
  // The plan keeps the targets alive on its own.
  const Target* profiles = &(*targets_)[1];
  targets_.reset();
  Stage stage(p);

  bridge::core::RecordView view;
  view.topic = "capillary.events";
  const std::string payload = event("customerAdded");
  view.payload = payload;
  RecordingEmitter out;
  ASSERT_TRUE(stage.process(view, out, nullptr));
  ASSERT_EQ(out.outputs.size(), 1U);
  EXPECT_TRUE(out.outputs[0].unchanged);
  EXPECT_EQ(out.outputs[0].kind, OutputKind::profile);
  EXPECT_EQ(out.outputs[0].target, profiles);
  EXPECT_EQ(out.outputs[0].target->name, "profiles");
  EXPECT_EQ(out.outputs[0].target->dataset_id, "ds-profile");

  out.outputs.clear();
  const std::string other = event("pointsIssued");
  view.payload = other;
  ASSERT_TRUE(stage.process(view, out, nullptr));
  ASSERT_EQ(out.outputs.size(), 1U);
  EXPECT_TRUE(out.outputs[0].unchanged);
  EXPECT_EQ(out.outputs[0].kind, OutputKind::raw);
  EXPECT_EQ(out.outputs[0].target->name, "default");
  EXPECT_EQ(&p->targets()[0], out.outputs[0].target);
}

TEST_F(RouterTest, FactoriesRunOnceAndEachStageGetsItsOwnInstances) {
  auto p = plan(R"(
routes:
  - events: [a]
    transform: label
    settings: {label: one}
  - transform: label
    settings: {label: two}
)");
  EXPECT_EQ(label_->creates, 2);
  EXPECT_EQ(label_->instances, 0);
  Stage first(p);
  Stage second(p);
  EXPECT_EQ(run(first, "t", event("a")), "one:a");
  EXPECT_EQ(run(first, "t", event("a")), "one:a");
  EXPECT_EQ(label_->instances, 1);
  EXPECT_EQ(run(second, "t", event("a")), "one:a");
  EXPECT_EQ(run(second, "t", event("b")), "two:b");
  EXPECT_EQ(run(first, "t", event("b")), "two:b");
  EXPECT_EQ(label_->instances, 4);
  EXPECT_EQ(label_->creates, 2);
}

TEST_F(RouterTest, PlanIsMovable) {
  diags_ = bridge::core::Diagnostics("bridge.yaml");
  auto built = RouterPlan::build(
      specs_from("routes:\n  - transform: passthrough\n    settings: {target: default}\n"),
      registry_, targets_, diags_);
  ASSERT_TRUE(built);
  RouterPlan moved = std::move(*built);
  ASSERT_EQ(moved.routes().size(), 1U);
  EXPECT_EQ(moved.routes()[0].transform, "passthrough");
  EXPECT_TRUE(moved.routes()[0].creator);
}

TEST(RegistryTest, FindAndNames) {
  Registry registry;
  register_builtin_transforms(registry);
  ASSERT_NE(registry.find("passthrough"), nullptr);
  EXPECT_EQ(registry.find("passthrough")->name(), "passthrough");
  EXPECT_EQ(registry.find("Passthrough"), nullptr);
  const std::vector<std::string> names = registry.names();
  for (const char* name : {"passthrough", "capillary", "plugin"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

TEST(RegistryDeathTest, DuplicateNameAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Registry registry;
  register_builtin_transforms(registry);
  EXPECT_DEATH(registry.add(passthrough::make_factory()), "already registered");
}

}  // namespace
}  // namespace transforms

// The `plugin` transform: loading shared-object plugins through the C ABI
// (transforms/plugin/capillary_bridge_plugin.h), startup diagnostics with line:column, the
// example plugin's output, rejects and refused outputs, and the YAML-to-JSON settings.
//
// The plugin paths come from compile definitions: the example plugin (transforms/plugin/example)
// and the test plugins built from tests/unit/plugins/test_plugin.c, copied into a fresh
// plugin_dir (CB_PLUGIN_TEST_DIR, in the build tree: /tmp may be mounted noexec) with modes only
// their owner may write, as the path rules require.

#include "transforms/plugin/plugin.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "transforms/api/registry.h"
#include "transforms/api/router.h"

namespace transforms {
namespace {

constexpr std::string_view kExamplePlugin = CB_EXAMPLE_PLUGIN;
constexpr std::string_view kTestPlugin = CB_TEST_PLUGIN;
constexpr std::string_view kBadAbiPlugin = CB_BAD_ABI_PLUGIN;
constexpr std::string_view kNoEntryPlugin = CB_NO_ENTRY_PLUGIN;
constexpr std::string_view kPluginDir = CB_PLUGIN_TEST_DIR;

namespace fs = std::filesystem;

// The plugins, copied into kPluginDir; the directory goes at the end of the run.
class PluginDir final : public ::testing::Environment {
 public:
  void SetUp() override {
    fs::remove_all(kPluginDir);
    fs::create_directories(kPluginDir);
    fs::permissions(kPluginDir, fs::perms(0755));
    for (const std::string_view built :
         {kExamplePlugin, kTestPlugin, kBadAbiPlugin, kNoEntryPlugin}) {
      const fs::path to = path(built);
      fs::copy_file(built, to, fs::copy_options::overwrite_existing);
      fs::permissions(to, fs::perms(0755));
    }
  }
  void TearDown() override { fs::remove_all(kPluginDir); }
  // Where the plugin built at `built` is copied.
  static std::string path(std::string_view built) {
    return (fs::path(kPluginDir) / fs::path(built).filename()).string();
  }
};
[[maybe_unused]] const auto* const kPluginDirEnvironment =
    ::testing::AddGlobalTestEnvironment(new PluginDir);

struct Output {
  OutputKind kind;
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
  std::vector<Output> outputs;
};

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// Routes as the config loader hands them over, with @example@, @test@, @bad-abi@ and @no-entry@
// replaced by the plugins' paths (keep those at the end of their line: columns stay put).
std::vector<RouteSpec> specs_from(std::string yaml) {
  replace_all(yaml, "@example@", PluginDir::path(kExamplePlugin));
  replace_all(yaml, "@test@", PluginDir::path(kTestPlugin));
  replace_all(yaml, "@bad-abi@", PluginDir::path(kBadAbiPlugin));
  replace_all(yaml, "@no-entry@", PluginDir::path(kNoEntryPlugin));
  replace_all(yaml, "@dir@", kPluginDir);
  const YAML::Node root = YAML::Load(yaml);
  std::vector<RouteSpec> specs;
  for (const auto& r : root["routes"]) {
    std::vector<std::string> events;
    if (r["events"]) {
      events = r["events"].as<std::vector<std::string>>();
    }
    specs.push_back({{}, events, r["transform"].as<std::string>(""), r["settings"], r.Mark()});
  }
  return specs;
}

// The test plugin with targets for raw and experience_event outputs (not profile).
constexpr const char* kTestRoute = R"(
routes:
  - transform: plugin
    settings:
      targets: {raw: default, experience_event: events}
      path: @test@
)";

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.add(plugin::make_factory());
    auto targets = std::make_shared<std::vector<Target>>();
    for (const char* name : {"default", "events", "profiles"}) {
      Target target;
      target.name = name;
      targets->push_back(target);
    }
    targets_ = std::move(targets);
  }

  std::shared_ptr<const RouterPlan> plan(const std::string& yaml) {
    diags_ = bridge::core::Diagnostics("bridge.yaml");
    auto built = RouterPlan::build(specs_from(yaml), registry_, targets_, diags_, options_);
    EXPECT_TRUE(built.has_value()) << diags_.to_string();
    EXPECT_TRUE(diags_.ok()) << diags_.to_string();
    if (!built) {
      return nullptr;
    }
    return std::make_shared<const RouterPlan>(std::move(*built));
  }

  std::vector<bridge::core::Diagnostic> problems(const std::string& yaml) {
    diags_ = bridge::core::Diagnostics("bridge.yaml");
    auto built = RouterPlan::build(specs_from(yaml), registry_, targets_, diags_, options_);
    EXPECT_FALSE(built.has_value());
    EXPECT_FALSE(diags_.ok());
    return diags_.items();
  }

  // Runs one record; returns its outputs, or sets error_ and returns what was emitted before.
  std::vector<Output> run(Stage& stage, const std::string& payload) {
    payload_ = payload;
    bridge::core::RecordView view;
    view.topic = "capillary.events";
    view.partition = 3;
    view.offset = 42;
    view.timestamp_ms = 1000;
    view.key = key_;
    view.payload = payload_;
    RecordingEmitter out;
    error_ = {};
    auto result = stage.process(view, out, nullptr);
    if (!result) {
      error_ = result.error();
    }
    return out.outputs;
  }

  // The error code of a record that must be rejected.
  std::string rejected(Stage& stage, const std::string& payload) {
    run(stage, payload);
    EXPECT_EQ(error_.kind, bridge::core::ErrorKind::reject) << error_.code;
    return error_.code;
  }

  static std::string event(const std::string& name) {
    return R"({"eventName":")" + name +
           R"(","eventId":"id-1","orgId":50001,"createdAt":1714557600123,"data":{"a":1}})";
  }

  Registry registry_;
  std::shared_ptr<const std::vector<Target>> targets_;
  bridge::core::Diagnostics diags_;
  BuildOptions options_{std::string(kPluginDir), true};
  std::string payload_;
  std::string key_ = "k-1";
  bridge::core::Error error_;
};

TEST_F(PluginTest, ExampleTurnsAnEventIntoAnExperienceEvent) {
  Stage stage(plan(R"(
routes:
  - events: [badgeEarned]
    transform: plugin
    settings:
      settings: {eventTypePrefix: acme.}
      targets: {experience_event: events}
      path: @example@
)"));
  const auto outputs = run(
      stage,
      R"({"eventName":"badgeEarned","eventId":"ev-\"7\"","orgId":50001,"createdAt":1714557600123,)"
      R"("data":{"badgeName":"Gold \"Star\"","points":[1,2.5]}})");
  ASSERT_TRUE(error_.code.empty()) << error_.code << ": " << error_.message;
  ASSERT_EQ(outputs.size(), 1U);
  EXPECT_EQ(outputs[0].kind, OutputKind::experience_event);
  EXPECT_EQ(outputs[0].target, "events");
  EXPECT_EQ(outputs[0].body,
            R"({"_id":"ev-\"7\"","eventType":"acme.badgeEarned","timestamp":)"
            R"("2024-05-01T10:00:00.123Z","data":{"badgeName":"Gold \"Star\"","points":[1,2.5]}})");
  EXPECT_EQ(stage.last_transform(), "plugin");
}

TEST_F(PluginTest, ExampleDefaultsAndOptionalFields) {
  Stage stage(plan(R"(
routes:
  - transform: plugin
    settings:
      targets: {experience_event: events}
      path: @example@
)"));
  // E2 wrapped envelope, no eventId, no createdAt.
  const auto outputs =
      run(stage, R"({"eventType":"50001_tierUpgraded","attributes":{"data":{"tier":"GOLD"}}})");
  ASSERT_TRUE(error_.code.empty()) << error_.code << ": " << error_.message;
  ASSERT_EQ(outputs.size(), 1U);
  EXPECT_EQ(outputs[0].body, R"({"eventType":"capillary.tierUpgraded","data":{"tier":"GOLD"}})");
}

TEST_F(PluginTest, ExampleRejectsAnEventWithoutData) {
  Stage stage(plan(R"(
routes:
  - transform: plugin
    settings:
      targets: {experience_event: events}
      path: @example@
)"));
  EXPECT_EQ(rejected(stage, R"({"eventName":"badgeEarned","eventId":"ev-1"})"), "plugin-example");
  EXPECT_EQ(error_.message, "plugin 'example': the event has no `data` object");
  EXPECT_EQ(rejected(stage, R"({"eventName":"badgeEarned","data":null})"), "plugin-example");
  // The instance carries on.
  EXPECT_EQ(run(stage, event("badgeEarned")).size(), 1U);
  EXPECT_TRUE(error_.code.empty());
}

TEST_F(PluginTest, ThePluginsSettingsErrorIsReportedAtItsSettings) {
  const auto items = problems(R"(routes:
  - transform: plugin
    settings:
      targets: {experience_event: events}
      settings:
        colour: blue
      path: @example@
)");
  ASSERT_EQ(items.size(), 1U);
  EXPECT_EQ(items[0].file, "bridge.yaml");
  EXPECT_EQ(items[0].line, 6);
  EXPECT_EQ(items[0].column, 9);
  EXPECT_NE(items[0].message.find(
                R"(plugin 'example': invalid settings: settings must be {"eventTypePrefix")"),
            std::string::npos)
      << items[0].message;

  // An empty `settings:` is null, which the example accepts; a non-map is reported at the value.
  plan(
      "routes:\n  - transform: plugin\n    settings:\n      settings:\n      targets: "
      "{experience_event: events}\n      path: @example@\n");
  const auto scalar = problems(
      "routes:\n  - transform: plugin\n    settings:\n      targets: {experience_event: "
      "events}\n      settings: 12\n      path: @example@\n");
  ASSERT_EQ(scalar.size(), 1U);
  EXPECT_EQ(scalar[0].line, 5);
  EXPECT_EQ(scalar[0].column, 17);
}

TEST_F(PluginTest, WrongAbiVersionIsRefusedAtStartup) {
  const auto items = problems(R"(routes:
  - transform: plugin
    settings:
      targets: {raw: default}
      path: @bad-abi@
)");
  ASSERT_EQ(items.size(), 1U);
  EXPECT_EQ(items[0].line, 5);
  EXPECT_EQ(items[0].column, 13);
  EXPECT_NE(items[0].message.find("was built for plugin ABI version 999, but this "
                                  "capillary-bridge implements version 1"),
            std::string::npos)
      << items[0].message;
}

// One plugin route at `path`; the single problem it must have, at the path (line 5, column 13).
#define EXPECT_PATH_REFUSED(path, text)                                                       \
  do {                                                                                        \
    const auto items = problems(std::string("routes:\n  - transform: plugin\n    settings:\n" \
                                            "      targets: {raw: default}\n      path: ") +  \
                                (path) + "\n");                                               \
    ASSERT_EQ(items.size(), 1U) << (path);                                                    \
    EXPECT_EQ(items[0].line, 5);                                                              \
    EXPECT_EQ(items[0].column, 13);                                                           \
    EXPECT_NE(items[0].message.find(text), std::string::npos) << items[0].message;            \
  } while (false)

TEST_F(PluginTest, PathsMustBeAbsoluteAndUnderThePluginDir) {
  const std::string dir(kPluginDir);
  EXPECT_PATH_REFUSED(dir + "/libnope.so", "cannot load '" + dir + "/libnope.so'");
  // A bare name never reaches dlopen's search of the system library path.
  EXPECT_PATH_REFUSED("libc.so.6", "`path` must be absolute, under plugin_dir " + dir);
  EXPECT_PATH_REFUSED("./libcb_test_plugin.so", "`path` must be absolute");
  EXPECT_PATH_REFUSED("/nonexistent/libnope.so", "is not under plugin_dir " + dir);
  EXPECT_PATH_REFUSED(dir + "/../libcb_test_plugin.so", "is not under plugin_dir");
  EXPECT_PATH_REFUSED(std::string(kTestPlugin), "is not under plugin_dir");  // the build tree
  EXPECT_PATH_REFUSED(dir, "is not under plugin_dir");                       // the dir itself

  // A link inside the directory to a plugin outside it.
  const fs::path link = fs::path(kPluginDir) / "escape.so";
  fs::create_symlink(kTestPlugin, link);
  EXPECT_PATH_REFUSED(link.string(), "outside plugin_dir");
  fs::remove(link);

  // A trailing slash on plugin_dir changes nothing.
  options_.plugin_dir = dir + "/";
  plan(std::string(kTestRoute));
  EXPECT_TRUE(diags_.ok()) << diags_.to_string();

  // No plugin_dir: no plugin at all.
  options_.plugin_dir.clear();
  EXPECT_PATH_REFUSED(PluginDir::path(kTestPlugin), "no plugin_dir is configured");
}

TEST_F(PluginTest, CodeOthersCouldWriteIsRefused) {
  const fs::path sub = fs::path(kPluginDir) / "team";
  fs::create_directories(sub);
  const fs::path lib = sub / "libcb_test_plugin.so";
  fs::copy_file(kTestPlugin, lib, fs::copy_options::overwrite_existing);
  const auto mode = [](const fs::path& p, unsigned m) { fs::permissions(p, fs::perms(m)); };
  mode(sub, 0755);
  mode(lib, 0644);
  plan(std::string(kTestRoute).replace(std::string(kTestRoute).find("@test@"), 6, lib.string()));
  EXPECT_TRUE(diags_.ok()) << diags_.to_string();

  mode(lib, 0664);
  EXPECT_PATH_REFUSED(lib.string(),
                      "the file '" + lib.string() + "' is group-writable (mode 0664)");
  mode(lib, 0646);
  EXPECT_PATH_REFUSED(lib.string(), "is world-writable (mode 0646)");
  mode(lib, 0755);
  mode(sub, 0775);
  EXPECT_PATH_REFUSED(lib.string(), "the directory '" + sub.string() + "' is group-writable");
  mode(sub, 0755);
  mode(fs::path(kPluginDir), 0777);
  EXPECT_PATH_REFUSED(lib.string(), "the directory '" + std::string(kPluginDir) +
                                        "' is world-writable (mode 0777)");
  mode(fs::path(kPluginDir), 0755);
  if (::geteuid() == 0) {  // only root can give a file away
    ASSERT_EQ(::chown(lib.c_str(), 12345, 12345), 0);
    EXPECT_PATH_REFUSED(lib.string(), "belongs to uid 12345, neither root nor the bridge's user");
  }
  fs::remove_all(sub);
}

// `validate --no-plugins`: the path rules still hold, but no code is loaded, so a plugin that
// would be refused once loaded (a wrong ABI version) passes.
TEST_F(PluginTest, CheckingWithoutLoadingCode) {
  const std::string route =
      "routes:\n  - transform: plugin\n    settings:\n      targets: {raw: default}\n      "
      "path: @bad-abi@\n";
  EXPECT_FALSE(problems(route).empty());  // loaded: the ABI check refuses it
  options_.load_code = false;
  const auto checked = plan(route);
  ASSERT_NE(checked, nullptr);
  EXPECT_EQ(checked->routes().size(), 1U);
  EXPECT_PATH_REFUSED("libcb_bad_abi_plugin.so", "`path` must be absolute");
  EXPECT_PATH_REFUSED(std::string(kBadAbiPlugin), "is not under plugin_dir");
}

TEST_F(PluginTest, MissingEntrySymbolIsReportedAtThePath) {
  const auto items = problems(R"(routes:
  - transform: plugin
    settings:
      targets: {raw: default}
      path: @no-entry@
)");
  ASSERT_EQ(items.size(), 1U);
  EXPECT_EQ(items[0].line, 5);
  EXPECT_EQ(items[0].column, 13);
  EXPECT_NE(items[0].message.find("does not export `cb_plugin_entry`"), std::string::npos)
      << items[0].message;
}

TEST_F(PluginTest, AllSettingsProblemsAreReportedInOneRun) {
  const auto items = problems(R"(routes:
  - transform: plugin
    settings:
      path: [a]
      colour: blue
      targets:
        profile: nowhere
        ledger: default
        raw: {name: default}
  - transform: plugin
    settings:
      targets: {}
  - transform: plugin
  - transform: plugin
    settings: [a]
)");
  ASSERT_EQ(items.size(), 9U) << diags_.to_string();
  const auto at = [&](std::size_t i, int line, int column, std::string_view text) {
    EXPECT_EQ(items[i].line, line) << items[i].message;
    EXPECT_EQ(items[i].column, column) << items[i].message;
    EXPECT_NE(items[i].message.find(text), std::string::npos) << items[i].message;
  };
  at(0, 4, 13, "`path` must be the file name");
  at(1, 5, 7, "unknown setting 'colour' (known: path, settings, targets)");
  at(2, 7, 18, "unknown target 'nowhere'");
  at(3, 8, 9, "unknown output kind 'ledger'");
  at(4, 9, 14, "`targets.raw` must be a target name");
  at(5, 12, 16, "must map at least one of profile, experience_event, raw");
  at(6, 12, 7, "`path` is required");
  at(7, 13, 5, "settings are required");
  at(8, 15, 15, "must be a map");
}

TEST_F(PluginTest, OutputsThatAreNotJsonAreRejected) {
  Stage stage(plan(kTestRoute));
  EXPECT_EQ(rejected(stage, event("badJson")), "plugin-output");
  EXPECT_NE(error_.message.find("plugin 'test' emitted a raw output that is not valid JSON"),
            std::string::npos)
      << error_.message;

  // The first refusal wins over a later reject(); outputs emitted before it are the pipeline's
  // to drop with the rejected record.
  EXPECT_EQ(run(stage, event("twoThenBad")).size(), 2U);
  EXPECT_EQ(error_.code, "plugin-output");
  EXPECT_NE(error_.message.find("not valid JSON"), std::string::npos) << error_.message;

  EXPECT_EQ(run(stage, event("anything")).size(), 1U);
  EXPECT_TRUE(error_.code.empty());
}

TEST_F(PluginTest, OutputsWithoutATargetAreRejected) {
  Stage stage(plan(kTestRoute));
  EXPECT_EQ(rejected(stage, event("profile")), "plugin-output");
  EXPECT_EQ(error_.message,
            "plugin 'test' emitted a profile output, but the route has no `targets.profile`");
  EXPECT_EQ(rejected(stage, event("badKind")), "plugin-output");
  EXPECT_EQ(error_.message, "plugin 'test' emitted an output of unknown kind 42");
}

TEST_F(PluginTest, RejectsComeBackWithTheirReason) {
  Stage stage(plan(kTestRoute));
  EXPECT_EQ(rejected(stage, event("reject")), "too-old");
  EXPECT_EQ(error_.message, "plugin 'test': the event is older than the cut-off");

  EXPECT_EQ(rejected(stage, event("rejectBadReason")), "plugin-rejected");
  EXPECT_EQ(error_.message, "plugin 'test' gave an invalid reason code; its message: ");

  // reject() rejects even when apply then returns CB_OK; long messages are cut.
  EXPECT_EQ(rejected(stage, event("rejectLong")), "long-message");
  EXPECT_EQ(error_.message, "plugin 'test': " + std::string(512, 'x'));

  EXPECT_EQ(rejected(stage, event("rejectSilently")), "plugin-rejected");
  EXPECT_EQ(error_.message, "plugin 'test' rejected the record without giving a reason");

  EXPECT_EQ(rejected(stage, event("weirdStatus")), "plugin-output");
  EXPECT_EQ(error_.message, "plugin 'test' returned status 7 (expected CB_OK or CB_REJECT)");
}

TEST_F(PluginTest, TheRecordAndEnvelopeReachThePlugin) {
  Stage stage(plan(kTestRoute));
  auto outputs = run(stage, event("fields"));
  ASSERT_EQ(outputs.size(), 1U) << error_.message;
  EXPECT_EQ(outputs[0].kind, OutputKind::raw);
  EXPECT_EQ(outputs[0].target, "default");
  EXPECT_EQ(outputs[0].body,
            R"({"topic":"capillary.events","partition":3,"offset":42,"timestamp_ms":1000,)"
            R"("key":"k-1","event_name":"fields","event_id":"id-1","org_id":50001,)"
            R"("has_org_id":1,"created_at_ms":1714557600123,"has_created_at":1,"payload_len":)" +
                std::to_string(payload_.size()) + R"(,"event_raw_len":)" +
                std::to_string(payload_.size()) + R"(,"data_raw":{"a":1}})");

  key_.clear();
  outputs = run(stage, R"({"eventName":"fields"})");
  ASSERT_EQ(outputs.size(), 1U) << error_.message;
  EXPECT_NE(outputs[0].body.find(R"("key":"","event_name":"fields","event_id":"","org_id":0,)"
                                 R"("has_org_id":0,"created_at_ms":0,"has_created_at":0,)"),
            std::string::npos)
      << outputs[0].body;
  EXPECT_NE(outputs[0].body.find(R"("data_raw":null})"), std::string::npos) << outputs[0].body;
}

TEST_F(PluginTest, SettingsReachThePluginAsJson) {
  Stage with(plan(R"(
routes:
  - transform: plugin
    settings:
      settings: {prefix: "a\"b", limit: 10, on: true}
      targets: {raw: default}
      path: @test@
)"));
  auto outputs = run(with, event("echoSettings"));
  ASSERT_EQ(outputs.size(), 1U) << error_.message;
  EXPECT_EQ(outputs[0].body, R"({"prefix":"a\"b","limit":10,"on":true})");

  Stage without(plan(kTestRoute));
  outputs = run(without, event("echoSettings"));
  ASSERT_EQ(outputs.size(), 1U) << error_.message;
  EXPECT_EQ(outputs[0].body, "null");
}

TEST_F(PluginTest, EachStageGetsItsOwnInstance) {
  auto p = plan(std::string(kTestRoute) + R"(  - transform: plugin
    settings:
      targets: {raw: default}
      path: @test@
)");
  ASSERT_EQ(p->routes().size(), 2U);
  auto second = std::make_unique<Stage>(p);
  {
    Stage first(p);
    ASSERT_EQ(run(first, event("count")).size(), 1U);
    auto body = run(first, event("count"))[0].body;
    // The startup probe instances are gone: only this Stage's instance is alive.
    EXPECT_NE(body.find(R"("calls":2,"live":1})"), std::string::npos) << body;
    body = run(*second, event("count"))[0].body;
    EXPECT_NE(body.find(R"("calls":1,"live":2})"), std::string::npos) << body;
  }
  const auto body = run(*second, event("count"))[0].body;
  EXPECT_NE(body.find(R"("calls":2,"live":1})"), std::string::npos) << body;
}

TEST(YamlToJsonTest, ScalarsAreTypedOnlyWhenPlain) {
  const YAML::Node node = YAML::Load(R"(
int: 42
neg: -7
plus: +3
big: 18446744073709551615
huge: 99999999999999999999999
float: 1.5
exp: 2e3
dot: .5
inf: .inf
hex: 0x1F
quoted: "42"
single: 'true'
tagged: !!str 12
bool: true
Bool: FALSE
yes: yes
nul: null
quoted_null: "null"
tilde: ~
empty:
text: "a \"quote\", a \\ and a\ttab\u0001"
list: [1, two, {three: 3}, []]
1: one
)");
  bridge::core::Diagnostics diags("bridge.yaml");
  const auto json = plugin::yaml_to_json(node, diags);
  ASSERT_TRUE(json) << diags.to_string();
  EXPECT_EQ(*json, R"({"int":42,"neg":-7,"plus":3,"big":18446744073709551615,)"
                   R"("huge":"99999999999999999999999","float":1.5,"exp":2000.0,"dot":0.5,)"
                   R"("inf":".inf","hex":"0x1F","quoted":"42","single":"true","tagged":"12",)"
                   R"("bool":true,"Bool":false,"yes":"yes","nul":null,"quoted_null":"null",)"
                   R"("tilde":null,"empty":null,"text":"a \"quote\", a \\ and a\ttab\u0001",)"
                   R"("list":[1,"two",{"three":3},[]],"1":"one"})");
  EXPECT_EQ(plugin::yaml_to_json(YAML::Node(), diags), "null");
  const YAML::Node map = YAML::Load("{}");
  EXPECT_EQ(plugin::yaml_to_json(map["missing"], diags), "null");
}

TEST(YamlToJsonTest, ProblemsAreReportedAtTheNode) {
  bridge::core::Diagnostics diags("bridge.yaml");
  EXPECT_FALSE(plugin::yaml_to_json(YAML::Load("a: 1\nb:\n  ? [x]\n  : 1\na: 2\n"), diags));
  ASSERT_EQ(diags.items().size(), 2U) << diags.to_string();
  EXPECT_EQ(diags.items()[0].line, 3);
  EXPECT_EQ(diags.items()[0].column, 5);
  EXPECT_EQ(diags.items()[0].message, "plugin: settings keys must be strings");
  EXPECT_EQ(diags.items()[1].line, 5);
  EXPECT_EQ(diags.items()[1].column, 1);
  EXPECT_EQ(diags.items()[1].message, "plugin: duplicate settings key 'a'");

  bridge::core::Diagnostics deep("bridge.yaml");
  EXPECT_FALSE(plugin::yaml_to_json(YAML::Load(std::string(70, '[') + std::string(70, ']')), deep));
  ASSERT_EQ(deep.items().size(), 1U) << deep.to_string();
  EXPECT_EQ(deep.items()[0].message, "plugin: settings nest deeper than 64 levels");
}

}  // namespace
}  // namespace transforms

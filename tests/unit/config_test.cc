// Config loading: defaults, env expansion, secrets from files, and problems reported with
// file:line:column, all in one pass.
#include "bridge/config/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace bridge::config {
namespace {

const char* const kMinimal = R"(kafka:
  brokers: 127.0.0.1:9092
  topics: [capillary.events]
routes:
  - transform: passthrough
    settings: {target: default}
)";

std::string source_dir() {
  const char* dir = std::getenv("BRIDGE_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

std::string render(const Loaded& loaded) {
  return loaded.diagnostics.to_string();
}

TEST(Config, MinimalFileGetsDefaults) {
  const auto loaded = load_string(kMinimal, "minimal.yaml");
  ASSERT_TRUE(loaded.diagnostics.ok()) << render(loaded);
  const Config& c = loaded.config;
  EXPECT_EQ(c.kafka.brokers, "127.0.0.1:9092");
  EXPECT_EQ(c.kafka.group_id, "capillary-bridge");
  EXPECT_EQ(c.kafka.topics, std::vector<std::string>{"capillary.events"});
  EXPECT_EQ(c.dead_letter.brokers, "127.0.0.1:9092");
  EXPECT_EQ(c.dead_letter.topic, "capillary-bridge.dlq");
  EXPECT_EQ(c.sink.type, SinkType::stdout_);
  ASSERT_EQ(c.targets.size(), 1U);
  EXPECT_EQ(c.targets[0].name, "default");
  ASSERT_EQ(c.routes.size(), 1U);
  EXPECT_EQ(c.routes[0].transform, "passthrough");
  EXPECT_EQ(c.routes[0].mark.line, 4);  // 0-based, as yaml-cpp reports it
  EXPECT_EQ(c.routes[0].settings["target"].Scalar(), "default");
}

TEST(Config, ShippedExampleAndDevConfigsAreValid) {
  ::setenv("CAPILLARY_BRIDGE_DEV_BROKERS", "127.0.0.1:1", 1);
  ::setenv("IMS_CLIENT_SECRET", "example-secret", 1);
  for (const char* name : {"/config/bridge.example.yaml", "/config/dev.yaml"}) {
    const auto loaded = load_file(source_dir() + name);
    EXPECT_TRUE(loaded.diagnostics.ok()) << name << "\n" << render(loaded);
  }
  ::unsetenv("CAPILLARY_BRIDGE_DEV_BROKERS");
  ::unsetenv("IMS_CLIENT_SECRET");
}

TEST(Config, PlatformBlockForSetupGetsDefaultsAndEveryProblem) {
  const auto none = load_string(kMinimal, "t.yaml");
  ASSERT_TRUE(none.diagnostics.ok()) << render(none);
  EXPECT_FALSE(none.config.platform.present);

  const auto loaded = load_string(std::string(kMinimal) + R"(sink:
  platform: {ims_org_id: ORG@AdobeOrg}
platform:
  api_url: https://platform.adobe.io/
  sandbox: dev
)",
                                  "t.yaml");
  ASSERT_TRUE(loaded.diagnostics.ok()) << render(loaded);
  const PlatformApiConfig& p = loaded.config.platform;
  EXPECT_TRUE(p.present);
  EXPECT_EQ(p.api_url, "https://platform.adobe.io");
  EXPECT_EQ(p.identity_url, "https://platform.adobe.io");
  EXPECT_EQ(p.org_id, "ORG@AdobeOrg");  // from the sink's ims_org_id
  EXPECT_EQ(p.sandbox, "dev");
  EXPECT_EQ(p.name_prefix, "capillary-bridge");
  EXPECT_EQ(p.max_attempts, 5);

  const auto bad = load_string(std::string(kMinimal) + R"(platform:
  api_url: platform.adobe.io
  sandbox: ""
  name_prefix: "a,b"
  max_attempts: 0
  colour: blue
)",
                               "bad.yaml");
  const std::string text = render(bad);
  for (const char* expected : {"bad.yaml:8:12: platform.api_url must be an http",
                               "bad.yaml:9:12: platform.sandbox must not be empty",
                               "bad.yaml:10:16: platform.name_prefix must be non-empty",
                               "bad.yaml:11:17:", "bad.yaml:12:3: unknown key 'colour'"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
}

TEST(Config, SizesAndDurations) {
  const auto loaded = load_string(std::string(kMinimal) + R"(pipeline:
  max_inflight_bytes: 64MiB
  max_event_bytes: 2MB
  drain_timeout_ms: 1500
)",
                                  "t.yaml");
  ASSERT_TRUE(loaded.diagnostics.ok()) << render(loaded);
  EXPECT_EQ(loaded.config.pipeline.max_inflight_bytes, 64 * 1024 * 1024);
  EXPECT_EQ(loaded.config.pipeline.max_event_bytes, 2'000'000);
  EXPECT_EQ(loaded.config.pipeline.drain_timeout.count(), 1500);
}

TEST(Config, TransformWorkers) {
  const auto automatic = load_string(kMinimal, "t.yaml");
  ASSERT_TRUE(automatic.diagnostics.ok()) << render(automatic);
  // `auto`: the cores available but one, and none (inline) below three cores.
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_LE(automatic.config.pipeline.workers, std::max(cores - 1, 0));
  if (cores < 3) {
    EXPECT_EQ(automatic.config.pipeline.workers, 0);
  }
  for (const auto& [text, want] : {std::pair{"0", 0}, {"3", 3}, {"auto", -1}}) {
    const auto loaded =
        load_string(std::string(kMinimal) + "pipeline:\n  workers: " + text + "\n", "t.yaml");
    ASSERT_TRUE(loaded.diagnostics.ok()) << render(loaded);
    if (want >= 0) {
      EXPECT_EQ(loaded.config.pipeline.workers, want) << text;
    } else {
      EXPECT_EQ(loaded.config.pipeline.workers, automatic.config.pipeline.workers);
    }
  }
  const auto bad = load_string(std::string(kMinimal) + "pipeline:\n  workers: lots\n", "b.yaml");
  EXPECT_NE(render(bad).find("b.yaml:8:12: pipeline.workers must be an integer (got 'lots')"),
            std::string::npos)
      << render(bad);
  const auto many = load_string(std::string(kMinimal) + "pipeline:\n  workers: 1000\n", "b.yaml");
  EXPECT_NE(render(many).find("b.yaml:8:12: pipeline.workers must be `auto` or 0..256"),
            std::string::npos)
      << render(many);
}

TEST(Config, ExpandsEnvironmentWithDefaultsAndEscapes) {
  ::setenv("CB_TEST_BROKERS", "10.0.0.1:9093", 1);
  ::setenv("CB_TEST_EMPTY", "", 1);
  ::unsetenv("CB_TEST_UNSET");
  const auto loaded = load_string(R"(kafka:
  brokers: ${CB_TEST_BROKERS}
  group_id: ${CB_TEST_UNSET:-fallback}-${CB_TEST_EMPTY:-x}
  client_id: cost$$5
  topics: [t]
routes:
  - transform: passthrough
    settings: {target: "${CB_TEST_UNSET:-default}"}
)",
                                  "env.yaml");
  ASSERT_TRUE(loaded.diagnostics.ok()) << render(loaded);
  EXPECT_EQ(loaded.config.kafka.brokers, "10.0.0.1:9093");
  EXPECT_EQ(loaded.config.kafka.group_id, "fallback-x");
  EXPECT_EQ(loaded.config.kafka.client_id, "cost$5");
  // Expansion reaches transform settings too, and keeps their positions.
  EXPECT_EQ(loaded.config.routes[0].settings["target"].Scalar(), "default");
  EXPECT_EQ(loaded.config.routes[0].settings["target"].Mark().line, 7);
}

TEST(Config, SecretFromFileIsReadAndTrimmed) {
  const std::string path = ::testing::TempDir() + "/sasl-password";
  {
    std::ofstream out(path);
    out << "s3cret-value\n";
  }
  const auto loaded = load_string(std::string(kMinimal) + "", "t.yaml");
  ASSERT_TRUE(loaded.diagnostics.ok());
  const auto with_secret = load_string(R"(kafka:
  brokers: b:1
  topics: [t]
  security:
    protocol: SASL_SSL
    sasl_mechanism: SCRAM-SHA-512
    sasl_username: bridge
    sasl_password_file: )" + path + R"(
routes:
  - transform: passthrough
)",
                                       "s.yaml");
  ASSERT_TRUE(with_secret.diagnostics.ok()) << render(with_secret);
  EXPECT_EQ(with_secret.config.kafka.security.sasl_password.reveal(), "s3cret-value");
  std::remove(path.c_str());
}

TEST(Config, EveryProblemIsListedWithLineAndColumn) {
  ::unsetenv("CB_TEST_UNSET");
  const std::string text = R"(kafka:
  brokers: ${CB_TEST_UNSET}
  topics: [a]
  topic_regex: "^b"
  prefetch_bytes: lots
  auto_offset_reset: newest
  colour: blue
pipeline:
  drain_timeout_ms: soon
  retry_backoff_max_ms: 0
routes:
  - transform: passthrough
    topic: [a]
  - events: [x]
sink:
  type: http
metrics:
  listen: localhost
log:
  level: loud
  format: json
  format: text
extra: 1
)";
  const auto loaded = load_string(text, "bad.yaml");
  ASSERT_FALSE(loaded.diagnostics.ok());
  const std::string out = render(loaded);
  const char* const expected[] = {
      "bad.yaml:2:12: environment variable CB_TEST_UNSET is not set",
      "bad.yaml:4:16: set exactly one of kafka.topics and kafka.topic_regex",
      "bad.yaml:5:19: kafka.prefetch_bytes must be a size",
      "bad.yaml:6:22: kafka.auto_offset_reset must be one of: earliest, latest (got 'newest')",
      "bad.yaml:7:3: unknown key 'colour' in kafka",
      "bad.yaml:9:21: pipeline.drain_timeout_ms must be an integer (got 'soon')",
      "bad.yaml:10:25: pipeline.retry_backoff_max_ms must be at least 1 (got 0)",
      "bad.yaml:13:5: unknown key 'topic' in routes[0]",
      "bad.yaml:14:5: routes[1].transform is required",
      "bad.yaml:16:9: sink.type must be one of: file, stdout, kafka, platform (got 'http')",
      "bad.yaml:18:11: metrics.listen must be host:port",
      "bad.yaml:20:10: log.level must be one of",
      "bad.yaml:22:3: duplicate key 'format' in log",
      "bad.yaml:23:1: unknown key 'extra'",
  };
  for (const char* line : expected) {
    EXPECT_NE(out.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << out;
  }
  EXPECT_EQ(loaded.diagnostics.items().size(), std::size(expected)) << out;
}

TEST(Config, YamlSyntaxErrorHasPosition) {
  const auto loaded = load_string("kafka:\n  brokers: [a, b\n", "syntax.yaml");
  ASSERT_EQ(loaded.diagnostics.items().size(), 1U);
  const auto& d = loaded.diagnostics.items()[0];
  EXPECT_GT(d.line, 0);
  EXPECT_NE(d.message.find("invalid YAML"), std::string::npos) << d.message;
}

TEST(Config, UnknownKeysGetADidYouMean) {
  const auto loaded = load_string(R"(kafka:
  brokers: b:9092
  grop_id: g
  topics: [t]
  colour: blue
routes:
  - transform: passthrough
    topic: [t]
sinks: {}
)",
                                  "typo.yaml");
  const std::string text = render(loaded);
  EXPECT_NE(text.find("typo.yaml:3:3: unknown key 'grop_id' in kafka: did you mean 'group_id'?"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("typo.yaml:8:5: unknown key 'topic' in routes[0]: did you mean 'topics'?"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("typo.yaml:9:1: unknown key 'sinks' in the configuration: did you mean 'sink'?"),
      std::string::npos)
      << text;
  // Nothing close: no guess, the list only.
  EXPECT_NE(text.find("typo.yaml:5:3: unknown key 'colour' in kafka (expected one of: brokers"),
            std::string::npos)
      << text;
}

TEST(Config, AVariableInAFlowListExplainsThePitfall) {
  ::setenv("BRIDGE_TEST_TOPIC", "capillary.events", 1);
  const auto bad = load_string(R"(kafka:
  brokers: b:9092
  topics: [${BRIDGE_TEST_TOPIC}]
)",
                               "flow.yaml");
  const std::string text = render(bad);
  EXPECT_NE(text.find("flow.yaml:3:"), std::string::npos) << text;
  EXPECT_NE(text.find("quote it ([\"${VAR}\"]) or write a block list (- ${VAR})"),
            std::string::npos)
      << text;
  // Both fixes work.
  const std::string routes = "routes:\n  - transform: passthrough\n";
  for (const char* fixed : {"kafka:\n  brokers: b:9092\n  topics: [\"${BRIDGE_TEST_TOPIC}\"]\n",
                            "kafka:\n  brokers: b:9092\n  topics:\n    - ${BRIDGE_TEST_TOPIC}\n"}) {
    const auto loaded = load_string(fixed + routes, "fixed.yaml");
    ASSERT_TRUE(loaded.diagnostics.ok()) << render(loaded);
    EXPECT_EQ(loaded.config.kafka.topics, std::vector<std::string>{"capillary.events"});
  }
  // Other syntax errors get no such hint.
  const auto other = load_string("kafka: [a, b\n", "other.yaml");
  EXPECT_EQ(render(other).find("hint"), std::string::npos) << render(other);
  ::unsetenv("BRIDGE_TEST_TOPIC");
}

TEST(Config, TransformsScopeNeedsOnlyTargetsAndRoutes) {
  ::unsetenv("BRIDGE_TEST_UNSET_SECRET");
  ::unsetenv("BRIDGE_TEST_UNSET_BROKERS");
  const std::string yaml = R"(kafka:
  brokers: ${BRIDGE_TEST_UNSET_BROKERS}
  topics: [capillary.events]
targets:
  events:
    dataset_id: d
    schema_ref: s
    inlet: main
routes:
  - transform: capillary
    settings: {profile_target: events, event_target: events}
sink:
  type: platform
  platform:
    inlets:
      - name: main
        url: https://dcs.adobedc.net/collection/abc
    ims:
      client_id: id
      client_secret: ${BRIDGE_TEST_UNSET_SECRET}
)";
  const auto all = load_string(yaml, "scope.yaml");
  const std::string text = render(all);
  EXPECT_NE(text.find("BRIDGE_TEST_UNSET_BROKERS is not set"), std::string::npos) << text;
  EXPECT_NE(text.find("BRIDGE_TEST_UNSET_SECRET is not set"), std::string::npos) << text;

  const auto transforms_only = load_string(yaml, "scope.yaml", Scope::transforms);
  EXPECT_TRUE(transforms_only.diagnostics.ok()) << render(transforms_only);
  ASSERT_EQ(transforms_only.config.routes.size(), 1U);
  EXPECT_EQ(transforms_only.config.kafka.topics, std::vector<std::string>{"capillary.events"});

  // A problem in what transforms use is still reported.
  std::string broken = yaml;
  broken.replace(broken.find("transform: capillary"), 20, "transform: ${BRIDGE_TEST_UNSET_SECRET}");
  const auto still = load_string(broken, "scope.yaml", Scope::transforms);
  EXPECT_NE(render(still).find("scope.yaml:10:16: environment variable BRIDGE_TEST_UNSET_SECRET"),
            std::string::npos)
      << render(still);
}

TEST(Config, InsecureHttpIsLoopbackOnly) {
  for (const char* url :
       {"http://127.0.0.1:8088/collection/x", "http://localhost/x", "HTTP://LOCALHOST:80",
        "http://[::1]:8088/x", "http://127.9.8.7/x", "http://user@127.0.0.1/x",
        "https://dcs.adobedc.net/collection/x", "https://10.0.0.1/x"}) {
    EXPECT_FALSE(is_insecure_http(url)) << url;
  }
  for (const char* url : {"http://platform-emulator:8088/collection/x", "http://10.0.0.1/x",
                          "http://127.0.0.1.example.com/x", "http://[::2]/x",
                          "http://dcs.adobedc.net", "http://127.0.0.1@evil.example/x"}) {
    EXPECT_TRUE(is_insecure_http(url)) << url;
  }
}

TEST(Config, ClearTextToAdobeIsRefusedUnlessAllowed) {
  const std::string yaml = R"(kafka:
  brokers: b:9092
  topics: [t]
routes:
  - transform: passthrough
sink:
  type: platform
  platform:
    inlets:
      main:
        url: http://platform-emulator:8088/collection/abc
      local:
        url: http://127.0.0.1:8088/collection/def
    ims:
      token_url: http://platform-emulator:8088/ims/token/v3
      client_id: id
      client_secret: s
platform:
  api_url: http://platform-emulator:8088
)";
  const auto refused = load_string(yaml, "clear.yaml");
  const std::string text = render(refused);
  for (const char* expected :
       {"clear.yaml:11:14: sink.platform.inlets.main.url is http:// to a host that is not "
        "loopback",
        "clear.yaml:15:18: sink.platform.ims.token_url is http://",
        "clear.yaml:19:12: platform.api_url is http://",
        "set sink.platform.http.allow_insecure_http: true"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\n" << text;
  }
  EXPECT_EQ(text.find("inlets.local"), std::string::npos) << text;  // loopback is fine
  EXPECT_EQ(refused.diagnostics.items().size(), 3U) << text;        // identity_url: api_url, once

  std::string allowed = yaml;
  allowed.insert(allowed.find("    ims:"), "    http: {allow_insecure_http: true}\n");
  const auto loaded = load_string(allowed, "clear.yaml");
  ASSERT_TRUE(loaded.diagnostics.ok()) << render(loaded);
  EXPECT_TRUE(loaded.config.sink.platform.allow_insecure_http);
  EXPECT_EQ(insecure_endpoints(loaded.config),
            (std::vector<std::string>{"inlet main", "ims", "platform api"}));
  // The control plane alone asks IMS for tokens too: its URL is checked where it is set.
  const auto control_plane = load_string(R"(kafka: {brokers: 'b:9092', topics: [t]}
routes: [{transform: passthrough}]
sink:
  type: stdout
  platform:
    ims: {token_url: 'http://ims.example/ims/token/v3', client_id: id, client_secret: s}
platform:
  api_url: https://platform.adobe.io
)",
                                         "cp.yaml");
  EXPECT_NE(render(control_plane).find("cp.yaml:6:22: sink.platform.ims.token_url is http://"),
            std::string::npos)
      << render(control_plane);
  // No IMS in use (no authenticated inlet, no control plane): nothing to refuse.
  const auto unused = load_string(R"(kafka: {brokers: 'b:9092', topics: [t]}
routes: [{transform: passthrough}]
sink:
  type: stdout
  platform:
    ims: {token_url: 'http://ims.example/ims/token/v3'}
)",
                                  "unused.yaml");
  EXPECT_TRUE(unused.diagnostics.ok()) << render(unused);
  EXPECT_TRUE(insecure_endpoints(unused.config).empty());
  // 'ims' is the IMS endpoint's metric label: no inlet may take it.
  std::string reserved = yaml;
  reserved.replace(reserved.find("      main:"), 11, "      ims:");
  EXPECT_NE(render(load_string(reserved, "r.yaml"))
                .find("r.yaml:10:7: sink.platform.inlets: 'ims' "
                      "is reserved"),
            std::string::npos)
      << render(load_string(reserved, "r.yaml"));

  // Nothing insecure in the shipped example.
  ::setenv("IMS_CLIENT_SECRET", "example-secret", 1);
  const auto example = load_file(source_dir() + "/config/bridge.example.yaml");
  ::unsetenv("IMS_CLIENT_SECRET");
  ASSERT_TRUE(example.diagnostics.ok()) << render(example);
  EXPECT_TRUE(insecure_endpoints(example.config).empty());
}

TEST(Config, MissingFileIsADiagnosticNotACrash) {
  const auto loaded = load_file("/nonexistent/bridge.yaml");
  ASSERT_FALSE(loaded.diagnostics.ok());
  EXPECT_NE(loaded.diagnostics.to_string().find("/nonexistent/bridge.yaml"), std::string::npos);
}

TEST(Config, MissingSecretFileNamesTheKeyButNotTheValue) {
  const auto loaded = load_string(R"(kafka:
  brokers: b:1
  topics: [t]
  security:
    protocol: SASL_SSL
    sasl_mechanism: PLAIN
    sasl_password: inline-secret
    sasl_password_file: /nonexistent/pw
routes:
  - transform: passthrough
)",
                                  "s.yaml");
  const std::string out = render(loaded);
  EXPECT_NE(out.find("s.yaml:8:25: set either kafka.security.sasl_password or "
                     "kafka.security.sasl_password_file, not both"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("inline-secret"), std::string::npos) << out;
}

TEST(Config, PlatformRetryWindowBreakerAndTimeouts) {
  const std::string head = std::string(kMinimal) + R"(targets:
  default: {dataset_id: 6553f0a1b2c3d4e5f6a7b802, schema_ref: "https://ns.adobe.com/acme/s"}
sink:
  type: platform
  platform:
    inlets:
      default: {url: "https://dcs.adobedc.net/collection/abc", authenticated: false}
)";
  const auto defaults = load_string(head, "p.yaml");
  ASSERT_TRUE(defaults.diagnostics.ok()) << render(defaults);
  const auto& d = defaults.config.sink.platform;
  EXPECT_EQ(d.message_retry_window, std::chrono::minutes(15));
  EXPECT_EQ(d.request_timeout, std::chrono::seconds(30));
  EXPECT_EQ(d.low_speed_limit, 1);
  EXPECT_EQ(d.low_speed_time, std::chrono::seconds(15));
  EXPECT_EQ(d.breaker.window, std::chrono::seconds(60));
  EXPECT_EQ(d.breaker.min_messages, 100);
  EXPECT_DOUBLE_EQ(d.breaker.max_dead_letter_ratio, 0.5);

  const auto set = load_string(head + R"(    message_retry_window_ms: 60000
    breaker: {window_ms: 10000, min_messages: 5, max_dead_letter_ratio: 0.25, cooldown_ms: 1000}
    http: {low_speed_limit_bytes: 100, low_speed_time_ms: 5000}
)",
                               "p.yaml");
  ASSERT_TRUE(set.diagnostics.ok()) << render(set);
  const auto& p = set.config.sink.platform;
  EXPECT_EQ(p.message_retry_window, std::chrono::minutes(1));
  EXPECT_EQ(p.breaker.window, std::chrono::seconds(10));
  EXPECT_EQ(p.breaker.min_messages, 5);
  EXPECT_DOUBLE_EQ(p.breaker.max_dead_letter_ratio, 0.25);
  EXPECT_EQ(p.breaker.cooldown, std::chrono::seconds(1));
  EXPECT_EQ(p.low_speed_limit, 100);
  EXPECT_EQ(p.low_speed_time, std::chrono::seconds(5));

  const auto bad = load_string(head + R"(    max_message_retries: 10
    breaker: {max_dead_letter_ratio: 1.5}
)",
                               "p.yaml");
  const std::string out = render(bad);
  EXPECT_NE(out.find("p.yaml:14:26: sink.platform.max_message_retries was replaced by "
                     "message_retry_window_ms"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("p.yaml:15:38: sink.platform.breaker.max_dead_letter_ratio must be a "
                     "number in (0, 1]"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace bridge::config

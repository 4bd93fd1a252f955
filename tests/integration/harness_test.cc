// The integration harness itself, against the real broker: if these fail, every other
// integration test's failure is suspect. Also covers the helpers that need no broker.

#include <gtest/gtest.h>

#include <csignal>
#include <set>

#include "tests/harness/bridge.h"
#include "tests/harness/kafka_broker.h"

namespace bridge::harness {
namespace {

TEST(ChildProcessTest, ReportsExitCodeAndSignal) {
  TempDir dir("capillary-harness");
  ChildProcess ok({{"sh", "-c", "echo hello; echo oops >&2; exit 3"},
                   {},
                   dir.file("out"),
                   dir.file("err"),
                   {}});
  const auto st = ok.wait(std::chrono::seconds(10));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 3);
  EXPECT_EQ(read_file(dir.file("out")), "hello\n");
  EXPECT_EQ(read_file(dir.file("err")), "oops\n");

  ChildProcess sleeper({{"sleep", "60"}, {}, {}, {}, {}});
  EXPECT_TRUE(sleeper.running());
  EXPECT_FALSE(sleeper.wait(std::chrono::milliseconds(50)));
  sleeper.kill(SIGTERM);
  const auto killed = sleeper.wait(std::chrono::seconds(10));
  ASSERT_TRUE(killed);
  EXPECT_TRUE(killed->signaled);
  EXPECT_EQ(killed->signal, SIGTERM);
}

TEST(ChildProcessTest, PassesEnvironment) {
  TempDir dir("capillary-harness");
  ChildProcess p({{"sh", "-c", "printf %s \"$HARNESS_VALUE\""},
                  {{"HARNESS_VALUE", "a b"}},
                  dir.file("out"),
                  {},
                  {}});
  ASSERT_TRUE(p.wait(std::chrono::seconds(10)));
  EXPECT_EQ(read_file(dir.file("out")), "a b");
}

TEST(HelpersTest, EventsAndMetrics) {
  const std::string e = make_event("id-42");
  EXPECT_EQ(extract_event_id(e), "id-42");
  EXPECT_NE(e.find(R"("eventName":"transactionAdded")"), std::string::npos);
  EXPECT_EQ(extract_event_id("not json"), "");

  const std::string text =
      "# HELP capillary_bridge_records_delivered_total x\n"
      "# TYPE capillary_bridge_records_delivered_total counter\n"
      "capillary_bridge_records_delivered_total 12\n"
      "capillary_bridge_records_delivered_total_other 5\n"
      "capillary_bridge_records_dead_lettered_total{topic=\"a\",reason=\"x\"} 2\n"
      "capillary_bridge_records_dead_lettered_total{topic=\"a\",reason=\"y\"} 3\n";
  EXPECT_EQ(metric_sum(text, "capillary_bridge_records_delivered_total"), 12.0);
  EXPECT_EQ(metric_sum(text, "capillary_bridge_records_dead_lettered_total"), 5.0);
  EXPECT_FALSE(metric_sum(text, "capillary_bridge_missing"));
}

TEST(HelpersTest, ConfigYamlHasTheTestsValues) {
  BridgeConfig cfg;
  cfg.brokers = "127.0.0.1:1234";
  cfg.topics = {"t1"};
  cfg.dlq_topic = "t1.dlq";
  cfg.sink_path = "/tmp/x.ndjson";
  cfg.metrics_listen = "127.0.0.1:9999";
  cfg.route_events = {"transactionAdded"};
  const std::string yaml = cfg.to_yaml();
  EXPECT_NE(yaml.find("brokers: \"127.0.0.1:1234\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("events: [\"transactionAdded\"]"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("path: \"/tmp/x.ndjson\""), std::string::npos) << yaml;
}

TEST(KafkaBrokerTest, ProduceConsumeHeadersWatermarksCommitted) {
  KafkaBroker broker;
  broker.start();
  ASSERT_FALSE(broker.bootstrap().empty());

  broker.create_topic("harness.events", 3);
  broker.create_topic("harness.big", 1, {{"max.message.bytes", "4194304"}});
  EXPECT_EQ(broker.partition_count("harness.events"), 3);

  std::vector<ProduceMessage> batch;
  batch.reserve(3001);
  for (int i = 0; i < 3000; ++i) {
    batch.push_back({"k" + std::to_string(i), make_event("h-" + std::to_string(i)), {}, i % 3});
  }
  batch.push_back({"hk", "with headers", {{"h1", "v1"}, {"h2", ""}}, 0});
  broker.produce("harness.events", batch);

  const auto hw = broker.high_watermarks("harness.events");
  ASSERT_EQ(hw.size(), 3U);
  EXPECT_EQ(hw.at(0), 1001);
  EXPECT_EQ(hw.at(1), 1000);
  EXPECT_EQ(hw.at(2), 1000);

  const auto all = broker.consume_all("harness.events");
  ASSERT_EQ(all.size(), 3001U);
  std::set<std::string> ids;
  for (const auto& m : all) {
    if (m.key == "hk") {
      EXPECT_EQ(m.value, "with headers");
      EXPECT_EQ(m.header("h1"), "v1");
      EXPECT_TRUE(m.has_header("h2"));
      EXPECT_FALSE(m.has_header("h3"));
    } else {
      ids.insert(extract_event_id(m.value));
    }
  }
  EXPECT_EQ(ids.size(), 3000U);

  // A 2 MB record fits a topic with max.message.bytes=4194304.
  broker.produce("harness.big", {{"big", std::string(std::size_t{2} * 1024 * 1024, 'x'), {}, 0}});
  const auto big = broker.consume_all("harness.big");
  ASSERT_EQ(big.size(), 1U);
  EXPECT_EQ(big[0].value.size(), 2U * 1024 * 1024);

  // A group that never committed has no offsets.
  for (const auto& [p, off] : broker.committed_offsets("nobody", "harness.events")) {
    EXPECT_LT(off, 0) << "partition " << p;
  }

  // Restart on the same address: the records are still there and new ones go in.
  const std::string bootstrap = broker.bootstrap();
  broker.stop();
  EXPECT_FALSE(broker.running());
  broker.restart();
  EXPECT_TRUE(broker.running());
  EXPECT_EQ(broker.bootstrap(), bootstrap);
  EXPECT_EQ(broker.high_watermarks("harness.events"), hw);
  broker.produce("harness.events", {{"after", make_event("h-after"), {}, 1}});
  EXPECT_EQ(broker.high_watermarks("harness.events").at(1), 1001);
}

}  // namespace
}  // namespace bridge::harness

// Exits that tell the truth (issue 11, defect 8), through the real binary and a real broker:
// SIGHUP drains and exits 0 like SIGTERM; a drain that hits its deadline with records still
// undelivered exits 3 and says, per partition, from which offset they will be redelivered.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <csignal>

#include "tests/harness/fixture.h"

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class ExitStatusTest : public BrokerTest {
 protected:
  const Names n_ = unique_names();
  void SetUp() override {
    BrokerTest::SetUp();
    create_topics(n_.topic, 2, n_.dlq);
    std::vector<ProduceMessage> batch;
    for (int i = 0; i < 200; ++i) {
      batch.push_back({fmt::format("k-{}", i), make_event(fmt::format("e-{}", i)), {}, i % 2});
    }
    broker().produce(n_.topic, batch);
  }
};

TEST_F(ExitStatusTest, SighupDrainsAndExitsZero) {
  BridgeConfig cfg = bridge_config(n_.topic, n_.dlq, n_.group);
  BridgeProcess bridge(dir_, "bridge", cfg);
  bridge.start();
  ASSERT_TRUE(wait_until([&] { return read_ndjson(cfg.sink_path).size() >= 200; }, seconds(60),
                         milliseconds(100)))
      << bridge.log_tail();
  bridge.kill(SIGHUP);
  const auto status = bridge.wait(seconds(60));
  ASSERT_TRUE(status) << bridge.log_tail();
  EXPECT_TRUE(status->exited && status->code == 0) << to_string(*status) << bridge.log_tail();
  EXPECT_NE(bridge.log_tail().find("received SIGHUP"), std::string::npos) << bridge.log_tail();
  const auto committed = broker().committed_offsets(n_.group, n_.topic);
  EXPECT_EQ(committed.at(0), 100);
  EXPECT_EQ(committed.at(1), 100);
}

TEST_F(ExitStatusTest, DrainDeadlineWithRecordsUndeliveredExitsThreeAndSaysWhereFrom) {
  BridgeConfig cfg = bridge_config(n_.topic, n_.dlq, n_.group);
  // An outbound cluster nobody listens on: nothing is ever delivered.
  cfg.sink_yaml =
      fmt::format("sink:\n  type: kafka\n  kafka:\n    topic: out\n    brokers: \"127.0.0.1:{}\"\n",
                  free_port());
  cfg.drain_timeout_ms = 2000;
  BridgeProcess bridge(dir_, "bridge", cfg);
  bridge.start();
  // Everything consumed (in flight in the sink) before the stop.
  ASSERT_TRUE(wait_until(
      [&] {
        return http_get("127.0.0.1", bridge.metrics_port(), "/metrics")
                   .body.find("capillary_bridge_inflight_records 200") != std::string::npos;
      },
      seconds(60), milliseconds(100)))
      << bridge.log_tail();
  const auto status = bridge.stop(seconds(30));
  ASSERT_TRUE(status) << bridge.log_tail();
  EXPECT_TRUE(status->exited && status->code == 3) << to_string(*status) << bridge.log_tail();
  const std::string log = bridge.log_tail();
  for (int p = 0; p < 2; ++p) {
    EXPECT_NE(log.find(fmt::format("{}/{}: 100 record(s) not delivered; they will be redelivered "
                                   "from offset 0",
                                   n_.topic, p)),
              std::string::npos)
        << log;
  }
  EXPECT_EQ(log.find("dropped"), std::string::npos) << "no talk of dropping what is redelivered";
  const auto committed = broker().committed_offsets(n_.group, n_.topic);
  for (const auto& [p, offset] : committed) {
    EXPECT_LE(offset, 0) << "partition " << p << ": committed what was never delivered";
  }
}

}  // namespace
}  // namespace bridge::harness

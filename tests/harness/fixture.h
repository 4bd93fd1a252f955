#pragma once
// gtest fixture for integration tests: one real Kafka broker per test suite (a JVM start costs a
// few seconds), a fresh temporary directory per test, and unique topic/group names per test so
// the tests of a suite never see each other's data.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "tests/harness/bridge.h"
#include "tests/harness/kafka_broker.h"

namespace bridge::harness {

class BrokerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  static KafkaBroker& broker();
  // "<prefix>.<test name>": a topic or group name no other test of the suite uses.
  [[nodiscard]] static std::string unique_name(const std::string& prefix);
  // One test's events topic, dead-letter topic and consumer group, each a unique_name.
  struct Names {
    std::string topic;
    std::string dlq;
    std::string group;
  };
  [[nodiscard]] static Names unique_names();
  // Creates the events topic and a dead-letter topic sized for 2 MB records.
  void create_topics(const std::string& events, int partitions, const std::string& dlq);
  // A config for one bridge instance against this broker, writing to <dir>/<sink_name>.
  [[nodiscard]] BridgeConfig bridge_config(const std::string& events, const std::string& dlq,
                                           const std::string& group,
                                           const std::string& sink_name = "sink.ndjson") const;

  TempDir dir_{"capillary-it"};
};

// Seed for randomized tests: BRIDGE_TEST_SEED when set, else random; always printed so a failing
// run can be replayed.
[[nodiscard]] std::uint64_t test_seed();

}  // namespace bridge::harness

#include "tests/harness/fixture.h"

#include <cctype>
#include <cstdlib>
#include <iostream>
#include <random>

namespace bridge::harness {

namespace {

// The suite's broker; one suite runs at a time (gtest runs suites sequentially).
std::unique_ptr<KafkaBroker>& shared_broker() {
  static std::unique_ptr<KafkaBroker> broker;
  return broker;
}

std::string& start_error() {
  static std::string error;
  return error;
}

}  // namespace

KafkaBroker& BrokerTest::broker() {
  return *shared_broker();
}

void BrokerTest::SetUpTestSuite() {
  start_error().clear();
  shared_broker() = std::make_unique<KafkaBroker>();
  try {
    const auto t0 = std::chrono::steady_clock::now();
    shared_broker()->start();
    std::cerr << "kafka broker up at " << shared_broker()->bootstrap() << " in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - t0)
                     .count()
              << " ms\n";
  } catch (const std::exception& e) {
    start_error() = e.what();
  }
}

void BrokerTest::TearDownTestSuite() {
  shared_broker().reset();
}

void BrokerTest::SetUp() {
  if (!start_error().empty()) {
    GTEST_FAIL() << "the Kafka broker did not start:\n" << start_error();
  }
  if (!shared_broker()->running()) {
    GTEST_FAIL() << "the Kafka broker is no longer running\n" << shared_broker()->log_tail();
  }
}

BrokerTest::Names BrokerTest::unique_names() {
  return {unique_name("it.events"), unique_name("it.dlq"), unique_name("it.group")};
}

std::string BrokerTest::unique_name(const std::string& prefix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = prefix;
  if (info != nullptr) {
    name += ".";
    name += info->test_suite_name();
    name += ".";
    name += info->name();
  }
  for (auto& c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '-' && c != '_') {
      c = '_';
    }
  }
  return name;
}

void BrokerTest::create_topics(const std::string& events, int partitions, const std::string& dlq) {
  broker().create_topic(events, partitions, {{"max.message.bytes", "4194304"}});
  broker().create_topic(dlq, 1, {{"max.message.bytes", "4194304"}});
}

BridgeConfig BrokerTest::bridge_config(const std::string& events, const std::string& dlq,
                                       const std::string& group,
                                       const std::string& sink_name) const {
  BridgeConfig cfg;
  cfg.brokers = shared_broker()->bootstrap();
  cfg.group_id = group;
  cfg.topics = {events};
  cfg.dlq_topic = dlq;
  cfg.sink_path = dir_.file(sink_name);
  return cfg;
}

std::uint64_t test_seed() {
  std::uint64_t seed = 0;
  if (const char* s = std::getenv("BRIDGE_TEST_SEED"); s != nullptr && *s != '\0') {
    seed = std::strtoull(s, nullptr, 10);
  } else {
    seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32U) | std::random_device{}();
  }
  std::cerr << "test seed: " << seed << " (replay with BRIDGE_TEST_SEED=" << seed << ")\n";
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

}  // namespace bridge::harness

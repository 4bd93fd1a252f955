// Dead letters that can never be written as they are (issue 11, defect 1), through the real
// binary and a real broker: a missing dead-letter topic stops the start with exit 2 naming it; a
// record too large for the dead-letter topic is written as a reduced letter (payload cut, its
// length and SHA-256 in headers) and nothing stalls behind it; a topic that refuses even the
// reduced letter stops the bridge with exit 1 naming topic, partition and offset, without
// committing past the record.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <random>

#include "tests/harness/fixture.h"

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr), 1);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += fmt::format("{:02x}", md[i]);
  }
  return out;
}

class DeadLetterTest : public BrokerTest {
 protected:
  const Names n_ = unique_names();
};

TEST_F(DeadLetterTest, MissingDeadLetterTopicStopsTheStartWithExitTwoNamingIt) {
  broker().create_topic(n_.topic, 1);
  BridgeProcess bridge(dir_, "bridge", bridge_config(n_.topic, n_.dlq, n_.group));
  bridge.start();
  const auto status = bridge.wait(seconds(60));
  ASSERT_TRUE(status) << "still running without a dead-letter topic\n" << bridge.log_tail();
  EXPECT_TRUE(status->exited && status->code == 2) << to_string(*status);
  const std::string log = bridge.log_tail();
  EXPECT_NE(log.find(fmt::format("dead-letter topic '{}' does not exist", n_.dlq)),
            std::string::npos)
      << log;
}

TEST_F(DeadLetterTest, RecordTooLargeForTheDeadLetterTopicIsReducedAndNothingStalls) {
  constexpr int kGood = 1000;
  constexpr std::size_t kBig = 1'230'000;
  // The source topic takes the big record; the dead-letter topic has Kafka's default
  // max.message.bytes (1 MB; the test broker's own default is larger), and random bytes do not
  // compress.
  broker().create_topic(n_.topic, 1, {{"max.message.bytes", "4194304"}});
  broker().create_topic(n_.dlq, 1, {{"max.message.bytes", "1048588"}});  // Kafka's default
  std::string big(kBig, '\0');
  std::mt19937 rng(7);
  for (auto& c : big) {
    c = static_cast<char>(rng() & 0xFF);
  }
  std::vector<ProduceMessage> batch;
  batch.push_back({"big", big, {{"trace", "t-big"}}, 0});
  std::vector<std::string> good;
  for (int i = 0; i < kGood; ++i) {
    const std::string id = fmt::format("g-{}", i);
    good.push_back(id);
    batch.push_back({"k", make_event(id), {}, 0});
  }
  broker().produce(n_.topic, batch);

  BridgeConfig cfg = bridge_config(n_.topic, n_.dlq, n_.group);
  BridgeProcess bridge(dir_, "bridge", cfg);
  bridge.start();
  DeliveryCounter counter;
  const bool done = wait_until(
      [&] {
        counter = DeliveryCounter();
        counter.add_all(read_ndjson(cfg.sink_path));
        return counter.unique() >= good.size() && broker().high_watermarks(n_.dlq).at(0) >= 1 &&
               broker().committed_offsets(n_.group, n_.topic).at(0) == kGood + 1;
      },
      seconds(120), milliseconds(200));
  ASSERT_TRUE(done) << "delivered " << counter.unique() << ", committed "
                    << broker().committed_offsets(n_.group, n_.topic).at(0) << "\n"
                    << bridge.log_tail();
  const auto status = bridge.stop();
  ASSERT_TRUE(status && status->exited && status->code == 0) << bridge.log_tail();
  EXPECT_EQ(counter.missing_count(good), 0U);

  const auto letters = broker().consume_all(n_.dlq);
  ASSERT_EQ(letters.size(), 1U);
  const auto& letter = letters.front();
  EXPECT_EQ(letter.key, "big");
  EXPECT_EQ(letter.header("trace"), "t-big") << "original headers are kept";
  EXPECT_EQ(letter.header("capillary-bridge.reason"), "too-large");
  EXPECT_EQ(letter.header("capillary-bridge.source"), fmt::format("{}/0/0", n_.topic));
  EXPECT_EQ(letter.header("capillary-bridge.truncated"), "true");
  EXPECT_EQ(letter.header("capillary-bridge.original-bytes"), std::to_string(kBig));
  EXPECT_EQ(letter.header("capillary-bridge.original-sha256"), sha256_hex(big));
  EXPECT_LT(letter.value.size(), 1'048'588U);
  EXPECT_GT(letter.value.size(), 900'000U) << "the letter keeps as much as fits";
  EXPECT_EQ(big.compare(0, letter.value.size(), letter.value), 0) << "the payload's first bytes";
}

TEST_F(DeadLetterTest, LetterLargerThanHalfTheProducersQueueIsReducedNotRetriedForEver) {
  // The topic would take the letter whole; the user's queue.buffering.max.kbytes would not (a
  // message larger than the queue is QUEUE_FULL, a transient error retried for ever).
  constexpr std::size_t kBig = 700'000;
  broker().create_topic(n_.topic, 1, {{"max.message.bytes", "4194304"}});
  broker().create_topic(n_.dlq, 1, {{"max.message.bytes", "4194304"}});
  std::vector<ProduceMessage> batch;
  batch.push_back({"big", std::string(kBig, 'x'), {}, 0});
  batch.push_back({"k", make_event("g-0"), {}, 0});
  broker().produce(n_.topic, batch);

  BridgeConfig cfg = bridge_config(n_.topic, n_.dlq, n_.group);
  cfg.pipeline_settings["max_event_bytes"] = "512KiB";  // the big record is a dead letter
  cfg.dlq_properties["queue.buffering.max.kbytes"] = "512";
  BridgeProcess bridge(dir_, "bridge", cfg);
  bridge.start();
  const bool done = wait_until(
      [&] {
        return broker().high_watermarks(n_.dlq).at(0) >= 1 &&
               broker().committed_offsets(n_.group, n_.topic).at(0) == 2;
      },
      seconds(60), milliseconds(200));
  ASSERT_TRUE(done) << "committed " << broker().committed_offsets(n_.group, n_.topic).at(0) << "\n"
                    << bridge.log_tail();
  const auto status = bridge.stop();
  ASSERT_TRUE(status && status->exited && status->code == 0) << bridge.log_tail();
  const auto letters = broker().consume_all(n_.dlq);
  ASSERT_EQ(letters.size(), 1U);
  EXPECT_EQ(letters.front().header("capillary-bridge.truncated"), "true");
  EXPECT_LE(letters.front().value.size(), 256U * 1024) << "at most half the 512 KiB queue";
  EXPECT_EQ(letters.front().header("capillary-bridge.original-bytes"), std::to_string(kBig));
}

TEST_F(DeadLetterTest, TopicRefusingEvenTheReducedLetterStopsTheBridgeNamingTheRecord) {
  broker().create_topic(n_.topic, 1);
  // Smaller than the letter, and than the smallest reduced letter the bridge writes (4 KiB):
  // the broker refuses both.
  broker().create_topic(n_.dlq, 1, {{"max.message.bytes", "1000"}});
  std::vector<ProduceMessage> batch;
  batch.push_back({"k", make_event("g-0"), {}, 0});
  batch.push_back({"k", "this is not json" + std::string(3000, 'x'), {}, 0});
  for (int i = 1; i < 50; ++i) {
    batch.push_back({"k", make_event(fmt::format("g-{}", i)), {}, 0});
  }
  broker().produce(n_.topic, batch);

  BridgeProcess bridge(dir_, "bridge", bridge_config(n_.topic, n_.dlq, n_.group));
  bridge.start();
  const auto status = bridge.wait(seconds(90));
  ASSERT_TRUE(status) << "the bridge kept retrying a letter that can never be written\n"
                      << bridge.log_tail();
  EXPECT_TRUE(status->exited && status->code == 1) << to_string(*status);
  const std::string log = bridge.log_tail();
  EXPECT_NE(log.find("writing a reduced letter"), std::string::npos) << log;
  EXPECT_NE(log.find(fmt::format("'{}' refused the letter for {}/0 offset 1", n_.dlq, n_.topic)),
            std::string::npos)
      << log;
  const auto committed = broker().committed_offsets(n_.group, n_.topic);
  EXPECT_LE(committed.at(0), 1) << "committed past the record whose letter was refused";
}

}  // namespace
}  // namespace bridge::harness

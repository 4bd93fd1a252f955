// A sink rejection in the middle of a partition, in-process: the real KafkaSource and the real
// DeadLetterWriter against the real broker, the real Pipeline, and a test sink that rejects one
// record. The rejected record lands in the dead-letter topic with the sink's reason and its source
// coordinates; everything else is delivered; and the committed offsets reach the high watermarks
// (the commit moved past the rejected record only because it was dead-lettered, never around it:
// the second test holds the dead letter back and watches the commit wait for it).

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include "bridge/app/components.h"
#include "bridge/config/config.h"
#include "bridge/deadletter/writer.h"
#include "bridge/kafka/dead_letter_writer.h"
#include "bridge/kafka/kafka_source.h"
#include "bridge/metrics/metrics.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/sink/sink.h"
#include "tests/harness/fixture.h"

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Delivers every message synchronously except the one whose eventId is `reject_id`.
// Threading: send/poll on the pipeline thread; the accessors from the test thread.
class RejectingSink final : public sink::Sink {
 public:
  explicit RejectingSink(std::string reject_id) : reject_id_(std::move(reject_id)) {}

  [[nodiscard]] std::string_view name() const override { return "test-rejecting"; }
  void send(std::span<const sink::Message> messages) override {
    const std::lock_guard lock(mutex_);
    for (const auto& m : messages) {
      std::string id = extract_event_id(m.body);
      if (id == reject_id_) {
        ++rejections_;
        ready_.push_back(
            {m.ticket, sink::Verdict::rejected, "test-reject", "rejected by the test sink"});
        continue;
      }
      order_violations_ += !last_offset_.contains(m.source_partition) ||
                                   last_offset_[m.source_partition] < m.source_offset
                               ? 0
                               : 1;
      last_offset_[m.source_partition] = m.source_offset;
      delivered_.insert(std::move(id));
      ++sends_;
      ready_.push_back({m.ticket, sink::Verdict::delivered, {}, {}});
    }
  }
  void poll(std::vector<sink::Outcome>& out, milliseconds /*wait*/) override {
    const std::lock_guard lock(mutex_);
    for (auto& o : ready_) {
      out.push_back(std::move(o));
    }
    ready_.clear();
  }
  [[nodiscard]] bool flush(milliseconds /*deadline*/) override { return true; }
  [[nodiscard]] bool ready() const override { return true; }
  [[nodiscard]] bool release(std::span<const sink::PartitionRef> /*partitions*/,
                             milliseconds /*deadline*/) override {
    return true;  // synchronous
  }

  [[nodiscard]] std::size_t delivered_count() const {
    const std::lock_guard lock(mutex_);
    return delivered_.size();
  }
  [[nodiscard]] bool delivered(const std::string& id) const {
    const std::lock_guard lock(mutex_);
    return delivered_.contains(id);
  }
  [[nodiscard]] int rejections() const {
    const std::lock_guard lock(mutex_);
    return rejections_;
  }
  [[nodiscard]] std::size_t sends() const {
    const std::lock_guard lock(mutex_);
    return sends_;
  }
  [[nodiscard]] int order_violations() const {
    const std::lock_guard lock(mutex_);
    return order_violations_;
  }

 private:
  std::string reject_id_;
  mutable std::mutex mutex_;
  std::set<std::string> delivered_;
  std::vector<sink::Outcome> ready_;
  std::map<std::int32_t, std::int64_t> last_offset_;
  int rejections_ = 0;
  int order_violations_ = 0;
  std::size_t sends_ = 0;
};

// The real KafkaSource, DeadLetterWriter and Pipeline from a harness config, running on their
// own thread. The destructor stops and joins.
class InProcessBridge {
 public:
  // `check_dead_letter_topic` false: the writer starts without asking whether the topic exists
  // (as when DescribeConfigs is not allowed), so a topic created later can be tested.
  InProcessBridge(const BridgeConfig& yaml, std::string reject_id,
                  bool check_dead_letter_topic = true)
      : sink_(std::move(reject_id)) {
    config::Loaded loaded = config::load_string(yaml.to_yaml(), "sink_reject_test.yaml");
    const std::string problems = loaded.diagnostics.to_string();
    validated_ = app::load_and_validate(std::move(loaded));
    if (!validated_) {
      throw std::runtime_error("config rejected: " + problems);
    }
    config::Config& cfg = validated_->config;
    if (!check_dead_letter_topic) {
      // librdkafka waits this long for an unknown topic to appear before failing the letter.
      cfg.dead_letter.properties["topic.metadata.propagation.max.ms"] = "600000";
    }
    auto source = kafka::KafkaSource::create(cfg.kafka, metrics_);
    if (!source) {
      throw std::runtime_error(source.error().message);
    }
    source_ = std::move(*source);
    auto dead_letters =
        kafka::DeadLetterWriter::create(cfg.kafka, cfg.dead_letter, check_dead_letter_topic);
    if (!dead_letters) {
      throw std::runtime_error(dead_letters.error().message);
    }
    dead_letters_ = std::move(*dead_letters);
    pipeline_ = std::make_unique<pipeline::Pipeline>(
        pipeline::Dependencies{*source_, sink_, *dead_letters_, metrics_, validated_->plan},
        cfg.pipeline);
    runner_ = std::thread([this] { result_ = pipeline_->run(); });
  }
  ~InProcessBridge() { stop(); }
  InProcessBridge(const InProcessBridge&) = delete;
  InProcessBridge& operator=(const InProcessBridge&) = delete;

  // Requests a stop and waits for run() to drain, commit and close.
  void stop() {
    if (runner_.joinable()) {
      pipeline_->request_stop();
      runner_.join();
    }
  }
  [[nodiscard]] RejectingSink& sink() { return sink_; }
  [[nodiscard]] kafka::DeadLetterWriter& dead_letters() { return *dead_letters_; }
  // Valid after stop().
  [[nodiscard]] const core::Result<void>& result() const { return result_; }
  [[nodiscard]] pipeline::Stats stats() const { return pipeline_->stats(); }  // after stop()

 private:
  RejectingSink sink_;
  std::optional<app::Validated> validated_;
  metrics::Metrics metrics_;
  std::unique_ptr<kafka::KafkaSource> source_;
  std::unique_ptr<kafka::DeadLetterWriter> dead_letters_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  core::Result<void> result_;
  std::thread runner_;
};

class SinkRejectTest : public BrokerTest {
 protected:
  static constexpr int kPartitions = 3;
  static constexpr int kEvents = 3000;
  // Round-robin over the partitions: event i is at partition i % 3, offset i / 3. The rejected
  // one sits in the middle of partition 0 with records before and after it.
  static constexpr int kRejected = 1500;
  static constexpr std::int32_t kRejectedPartition = kRejected % kPartitions;
  static constexpr std::int64_t kRejectedOffset = kRejected / kPartitions;

  void SetUp() override {
    BrokerTest::SetUp();
    topic_ = unique_name("it.events");
    dlq_ = unique_name("it.dlq");
    group_ = unique_name("it.group");
    reject_id_ = fmt::format("d-{}", kRejected);
  }

  void produce_events() {
    for (int i = 0; i < kEvents; ++i) {
      batch_.push_back({fmt::format("cust-{}", i % 50),
                        make_event(fmt::format("d-{}", i)),
                        {{"trace", fmt::format("t-{}", i)}},
                        i % kPartitions});
    }
    broker().produce(topic_, batch_);
  }

  [[nodiscard]] BridgeConfig yaml() const {
    BridgeConfig cfg = bridge_config(topic_, dlq_, group_);
    cfg.metrics_listen = fmt::format("127.0.0.1:{}", free_port());  // required; not served here
    return cfg;
  }

  // Everything but the rejected record reached the sink, in order.
  void expect_all_others_delivered(const RejectingSink& sink) const {
    EXPECT_EQ(sink.order_violations(), 0);
    EXPECT_FALSE(sink.delivered(reject_id_));
    for (int i = 0; i < kEvents; ++i) {
      if (i != kRejected) {
        ASSERT_TRUE(sink.delivered(fmt::format("d-{}", i))) << "d-" << i << " was not delivered";
      }
    }
  }

  // The dead letter: original key, value and headers, plus why and where from.
  void expect_dead_letter(const ConsumedMessage& letter) const {
    EXPECT_EQ(letter.key, batch_[kRejected].key);
    EXPECT_EQ(letter.value, batch_[kRejected].value);
    EXPECT_EQ(letter.header("trace"), fmt::format("t-{}", kRejected));
    EXPECT_EQ(letter.header(std::string(deadletter::kReasonHeader)), "test-reject");
    EXPECT_EQ(letter.header(std::string(deadletter::kSourceHeader)),
              fmt::format("{}/{}/{}", topic_, kRejectedPartition, kRejectedOffset));
    EXPECT_FALSE(letter.header(std::string(deadletter::kVersionHeader)).empty());
    EXPECT_FALSE(letter.header(std::string(deadletter::kMessageHeader)).empty());
  }

  void expect_committed_at_high_watermarks() {
    const auto hw = broker().high_watermarks(topic_);
    const auto committed = broker().committed_offsets(group_, topic_);
    for (const auto& [p, high] : hw) {
      EXPECT_EQ(committed.at(p), high) << "partition " << p;
    }
  }

  std::string topic_;
  std::string dlq_;
  std::string group_;
  std::string reject_id_;
  std::vector<ProduceMessage> batch_;
};

TEST_F(SinkRejectTest, RejectedRecordIsDeadLetteredAndEverythingElseDelivered) {
  create_topics(topic_, kPartitions, dlq_);
  produce_events();
  InProcessBridge bridge(yaml(), reject_id_);

  const bool done = wait_until(
      [&] {
        return bridge.sink().delivered_count() >= static_cast<std::size_t>(kEvents - 1) &&
               broker().high_watermarks(dlq_).at(0) >= 1;
      },
      seconds(120), milliseconds(100));
  bridge.stop();
  ASSERT_TRUE(bridge.result()) << bridge.result().error().message;
  ASSERT_TRUE(done) << "delivered " << bridge.sink().delivered_count() << " of " << kEvents - 1;
  ASSERT_TRUE(bridge.dead_letters().flush(seconds(10)));

  EXPECT_EQ(bridge.sink().rejections(), 1);
  expect_all_others_delivered(bridge.sink());
  const auto stats = bridge.stats();
  EXPECT_EQ(stats.consumed, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(stats.delivered, static_cast<std::uint64_t>(kEvents - 1));
  EXPECT_EQ(stats.dead_lettered, 1U);

  const auto letters = broker().consume_all(dlq_);
  ASSERT_EQ(letters.size(), 1U);
  expect_dead_letter(letters.front());
  expect_committed_at_high_watermarks();
}

// The dead-letter topic does not exist yet (and the start-up check is off, as when the cluster
// does not let the bridge describe topics), so the dead letter cannot be written: the rejected
// record's partition must not commit past it, however many later records were delivered, while
// the other partitions commit normally. Once the topic exists the dead letter goes through and the
// commit catches up. (With the check on, a missing topic stops the start: dead_letter_test.)
TEST_F(SinkRejectTest, CommitNeverPassesARejectedRecordBeforeItsDeadLetterIsWritten) {
  broker().create_topic(topic_, kPartitions);
  produce_events();
  InProcessBridge bridge(yaml(), reject_id_, /*check_dead_letter_topic=*/false);

  ASSERT_TRUE(wait_until(
      [&] { return bridge.sink().delivered_count() >= static_cast<std::size_t>(kEvents - 1); },
      seconds(120), milliseconds(100)))
      << "delivered " << bridge.sink().delivered_count() << " of " << kEvents - 1;
  // Several commit intervals with everything else delivered: partition 0 stays at the rejected
  // record, the others reach their high watermarks.
  const auto hw = broker().high_watermarks(topic_);
  const bool others_committed = wait_until(
      [&] {
        const auto c = broker().committed_offsets(group_, topic_);
        for (const auto& [p, high] : hw) {
          if (p != kRejectedPartition && c.at(p) != high) {
            return false;
          }
        }
        return true;
      },
      seconds(30), milliseconds(200));
  EXPECT_TRUE(others_committed);
  const bool up_to_rejected = wait_until(
      [&] {
        return broker().committed_offsets(group_, topic_).at(kRejectedPartition) == kRejectedOffset;
      },
      seconds(30), milliseconds(200));
  EXPECT_TRUE(up_to_rejected) << "partition " << kRejectedPartition
                              << " should commit every record before the rejected one";
  // The scenario: 1.5 s (several commit intervals) in which the commit must not move past it;
  // nothing observable marks the end of a wait for a dead letter that cannot be written.
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(milliseconds(300));
    const auto c = broker().committed_offsets(group_, topic_);
    EXPECT_LE(c.at(kRejectedPartition), kRejectedOffset)
        << "partition " << kRejectedPartition << " committed past the rejected record at offset "
        << kRejectedOffset << " before its dead letter was written";
  }

  broker().create_topic(dlq_, 1, {{"max.message.bytes", "4194304"}});
  const bool written = wait_until([&] { return broker().high_watermarks(dlq_).at(0) >= 1; },
                                  seconds(90), milliseconds(200));
  EXPECT_TRUE(written) << "the dead letter was not written within 90 s of creating the topic";
  // The commit catches up once the dead letter is settled.
  const bool caught_up = wait_until(
      [&] {
        return broker().committed_offsets(group_, topic_).at(kRejectedPartition) ==
               hw.at(kRejectedPartition);
      },
      seconds(30), milliseconds(200));
  EXPECT_TRUE(caught_up);
  bridge.stop();
  ASSERT_TRUE(bridge.result()) << bridge.result().error().message;
  ASSERT_TRUE(bridge.dead_letters().flush(seconds(10)));

  expect_all_others_delivered(bridge.sink());
  const auto letters = broker().consume_all(dlq_);
  ASSERT_GE(letters.size(), 1U);  // a retried write may duplicate it (at-least-once)
  for (const auto& letter : letters) {
    expect_dead_letter(letter);
  }
  expect_committed_at_high_watermarks();
}

}  // namespace
}  // namespace bridge::harness

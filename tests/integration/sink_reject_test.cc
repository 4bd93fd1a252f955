// A sink rejection in the middle of a partition, in-process: the real KafkaSource and the real
// DeadLetterWriter against the real broker, the real Pipeline, and a test sink that rejects one
// record. The rejected record lands in the dead-letter topic with the sink's reason and its source
// coordinates; everything else is delivered; and the committed offsets reach the high watermarks
// (the commit moved past the rejected record only because it was dead-lettered, never around it).

#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

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
// Threading: send/poll on the pipeline thread; delivered_ids() from the test thread.
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
        ready_.push_back({m.ticket, sink::Verdict::rejected, "test-reject",
                          "rejected by the test sink"});
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

class SinkRejectTest : public BrokerTest {};

TEST_F(SinkRejectTest, RejectedRecordIsDeadLetteredAndNeverSkipped) {
  constexpr int kPartitions = 3;
  constexpr int kEvents = 3000;
  const std::string topic = unique_name("it.events");
  const std::string dlq = unique_name("it.dlq");
  const std::string group = unique_name("it.group");
  create_topics(topic, kPartitions, dlq);

  // Round-robin over the partitions: event i is at partition i % 3, offset i / 3. The rejected
  // one sits in the middle of partition 0 with records before and after it.
  std::vector<ProduceMessage> batch;
  for (int i = 0; i < kEvents; ++i) {
    batch.push_back({fmt::format("cust-{}", i % 50), make_event(fmt::format("d-{}", i)),
                     {{"trace", fmt::format("t-{}", i)}}, i % kPartitions});
  }
  constexpr int kRejected = 1500;
  const std::string reject_id = fmt::format("d-{}", kRejected);
  broker().produce(topic, batch);

  const config::Loaded loaded =
      config::load_string(bridge_config(topic, dlq, group).to_yaml(), "sink_reject_test.yaml");
  const auto validated = app::load_and_validate(loaded);
  ASSERT_TRUE(validated) << "config rejected: " << loaded.diagnostics.to_string();
  const config::Config& cfg = validated->config;

  metrics::Metrics metrics;
  auto source = kafka::KafkaSource::create(cfg.kafka, metrics);
  ASSERT_TRUE(source) << source.error().message;
  auto dead_letters = kafka::DeadLetterWriter::create(cfg.kafka, cfg.dead_letter);
  ASSERT_TRUE(dead_letters) << dead_letters.error().message;
  RejectingSink sink(reject_id);

  pipeline::Pipeline pipeline({**source, sink, **dead_letters, metrics, validated->plan},
                              cfg.pipeline);
  core::Result<void> result;
  std::thread runner([&] { result = pipeline.run(); });
  struct Joiner {
    pipeline::Pipeline& p;
    std::thread& t;
    ~Joiner() {
      p.request_stop();
      if (t.joinable()) {
        t.join();
      }
    }
  } joiner{pipeline, runner};

  const bool done = wait_until(
      [&] {
        return sink.delivered_count() >= kEvents - 1 && broker().high_watermarks(dlq).at(0) >= 1;
      },
      seconds(120), milliseconds(100));
  // Pipeline::stats() belongs to the pipeline thread: read only after run() returned.
  pipeline.request_stop();
  runner.join();
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_TRUE(done) << "delivered " << sink.delivered_count() << " of " << kEvents - 1;
  ASSERT_TRUE((*dead_letters)->flush(seconds(10)));

  EXPECT_EQ(sink.rejections(), 1);
  EXPECT_EQ(sink.order_violations(), 0);
  EXPECT_FALSE(sink.delivered(reject_id));
  for (int i = 0; i < kEvents; ++i) {
    if (i != kRejected) {
      ASSERT_TRUE(sink.delivered(fmt::format("d-{}", i))) << "d-" << i << " was not delivered";
    }
  }
  const auto stats = pipeline.stats();
  EXPECT_EQ(stats.consumed, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(stats.delivered, static_cast<std::uint64_t>(kEvents - 1));
  EXPECT_EQ(stats.dead_lettered, 1U);

  // The dead letter: original key, value and headers, plus why and where from.
  const auto letters = broker().consume_all(dlq);
  ASSERT_EQ(letters.size(), 1U);
  const ConsumedMessage& letter = letters.front();
  EXPECT_EQ(letter.key, batch[kRejected].key);
  EXPECT_EQ(letter.value, batch[kRejected].value);
  EXPECT_EQ(letter.header("trace"), fmt::format("t-{}", kRejected));
  EXPECT_EQ(letter.header(std::string(deadletter::kReasonHeader)), "test-reject");
  EXPECT_EQ(letter.header(std::string(deadletter::kSourceHeader)),
            fmt::format("{}/{}/{}", topic, kRejected % kPartitions, kRejected / kPartitions));
  EXPECT_FALSE(letter.header(std::string(deadletter::kVersionHeader)).empty());
  EXPECT_FALSE(letter.header(std::string(deadletter::kMessageHeader)).empty());

  const auto hw = broker().high_watermarks(topic);
  const auto committed = broker().committed_offsets(group, topic);
  for (const auto& [p, high] : hw) {
    EXPECT_EQ(committed.at(p), high) << "partition " << p;
  }
}

}  // namespace
}  // namespace bridge::harness

#pragma once
// deadletter::Writer on a Kafka producer: the original key, value and headers plus the
// capillary-bridge.* headers (bridge/deadletter/writer.h).
//
// At start, create() asks the cluster about the topic (DescribeConfigs): a missing topic is an
// error naming it (the service exits 2); its max.message.bytes bounds what a letter may hold.
// A letter that cannot fit, or one the broker refuses for good (too large, not authorized,
// topic gone), is written reduced: the payload cut to fit, with its length and SHA-256.
// Transient failures (broker down, leader moving) are reported as such and retried by the
// pipeline. produce() never waits: a full local queue is a transient failure.

#include <memory>
#include <optional>

#include "bridge/deadletter/writer.h"
#include "bridge/kafka/producer.h"

namespace bridge::kafka {

// Kafka's default max.message.bytes (topic and broker), used when the topic's cannot be read.
inline constexpr std::int64_t kDefaultMaxMessageBytes = 1048588;

// Whether a dead-letter write that failed with `err` can never succeed as it is.
[[nodiscard]] bool is_permanent_dead_letter_error(rd_kafka_resp_err_t err);

class DeadLetterWriter final : public deadletter::Writer {
 public:
  // Checks the topic (see above) unless `check_topic` is false (the embedded mock cluster has no
  // DescribeConfigs). Errors: permanent "dead-letter-topic-missing" for a missing topic.
  static core::Result<std::unique_ptr<DeadLetterWriter>> create(const config::KafkaConfig& cluster,
                                                                const config::DeadLetterConfig& cfg,
                                                                bool check_topic = true);

  [[nodiscard]] std::string_view topic() const override { return topic_; }
  void write(const deadletter::Letter& letter) override;
  void poll(std::vector<deadletter::WriteResult>& out, std::chrono::milliseconds wait) override;
  [[nodiscard]] bool flush(std::chrono::milliseconds deadline) override {
    return producer_.flush(deadline);
  }
  // The smaller of the topic's max.message.bytes (Kafka's default when it could not be read) and
  // the producer's.
  [[nodiscard]] std::int64_t max_message_bytes() const { return max_message_bytes_; }

 private:
  DeadLetterWriter(Producer producer, std::string topic, std::int64_t max_message_bytes,
                   std::int64_t max_letter_bytes)
      : producer_(std::move(producer)),
        topic_(std::move(topic)),
        max_message_bytes_(max_message_bytes),
        max_letter_bytes_(max_letter_bytes) {}

  Producer producer_;
  std::string topic_;
  std::int64_t max_message_bytes_;
  std::int64_t max_letter_bytes_;      // half the producer's queue
  std::vector<core::Header> headers_;  // reused
  std::vector<DeliveryReport> reports_;
  std::vector<deadletter::WriteResult> immediate_;
  std::vector<std::uint64_t> reduced_tickets_;  // letters in flight that were written reduced
};

// The topic's max.message.bytes, or nullopt with a warning when it cannot be read; an error
// when the cluster says the topic does not exist. Exposed for tests.
[[nodiscard]] core::Result<std::optional<std::int64_t>> describe_topic_max_message_bytes(
    rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout);

}  // namespace bridge::kafka

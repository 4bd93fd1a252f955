#pragma once
// Outputs to an outbound Kafka topic (a target's `topic`, else sink.kafka.topic), keyed by the
// source record's key so per-customer order carries over. A message is delivered only when its
// delivery report says so. Size and validity errors reject the message (dead letter); anything
// else after librdkafka's own retries (message.timeout.ms) asks the pipeline to retry.

#include <atomic>
#include <memory>
#include <unordered_map>

#include "bridge/kafka/producer.h"
#include "bridge/sink/sink.h"

namespace bridge::kafka {

class KafkaSink final : public sink::Sink {
 public:
  static core::Result<std::unique_ptr<KafkaSink>> create(const config::KafkaConfig& cluster,
                                                         const config::KafkaSinkConfig& cfg);

  [[nodiscard]] std::string_view name() const override { return "kafka"; }
  void send(std::span<const sink::Message> messages) override;
  void poll(std::vector<sink::Outcome>& out, std::chrono::milliseconds wait) override;
  [[nodiscard]] bool flush(std::chrono::milliseconds deadline) override;
  [[nodiscard]] bool ready() const override { return healthy_.load(std::memory_order_relaxed); }
  // librdkafka cannot take back one partition's queued messages: wait for all of them.
  [[nodiscard]] bool release(std::span<const sink::PartitionRef> /*partitions*/,
                             std::chrono::milliseconds deadline) override {
    return flush(deadline);
  }

 private:
  KafkaSink(Producer producer, std::string topic)
      : producer_(std::move(producer)), topic_(std::move(topic)) {}

  Producer producer_;
  std::string topic_;
  std::vector<DeliveryReport> reports_;   // reused
  std::vector<sink::Outcome> immediate_;  // verdicts known at enqueue time
  std::atomic<bool> healthy_{true};
};

// Whether a produce/delivery error can never succeed for this message.
[[nodiscard]] bool is_permanent_for_message(rd_kafka_resp_err_t err);

}  // namespace bridge::kafka

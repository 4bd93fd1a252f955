#pragma once
// deadletter::Writer on a Kafka producer: the original key, value and headers plus the
// capillary-bridge.* headers (bridge/deadletter/writer.h). The producer's message.max.bytes is
// raised (64 MiB unless configured) because dead letters include oversized inputs; the topic's
// max.message.bytes must be at least the source topic's.

#include <memory>

#include "bridge/deadletter/writer.h"
#include "bridge/kafka/producer.h"

namespace bridge::kafka {

class DeadLetterWriter final : public deadletter::Writer {
 public:
  static core::Result<std::unique_ptr<DeadLetterWriter>> create(
      const config::KafkaConfig& cluster, const config::DeadLetterConfig& cfg);

  void write(const deadletter::Letter& letter) override;
  void poll(std::vector<deadletter::WriteResult>& out, std::chrono::milliseconds wait) override;
  [[nodiscard]] bool flush(std::chrono::milliseconds deadline) override {
    return producer_.flush(deadline);
  }

 private:
  DeadLetterWriter(Producer producer, std::string topic)
      : producer_(std::move(producer)), topic_(std::move(topic)) {}

  Producer producer_;
  std::string topic_;
  std::vector<core::Header> headers_;  // reused
  std::vector<DeliveryReport> reports_;
  std::vector<deadletter::WriteResult> immediate_;
};

}  // namespace bridge::kafka

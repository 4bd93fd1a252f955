#pragma once
// An embedded Kafka-protocol broker (librdkafka's mock cluster) for `capillary-bridge dev`:
// listens on free 127.0.0.1 ports, so kcat and other clients can produce into it while the
// bridge runs. Not a test stand-in for Apache Kafka: integration tests use the real broker.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <memory>
#include <string>

#include "bridge/core/result.h"
#include "bridge/kafka/client_config.h"

namespace bridge::kafka {

class MockCluster {
 public:
  static core::Result<std::unique_ptr<MockCluster>> start(int brokers);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  [[nodiscard]] const std::string& bootstrap() const { return bootstrap_; }
  [[nodiscard]] core::Result<void> create_topic(const std::string& name, int partitions);

 private:
  MockCluster() = default;
  KafkaPtr owner_;  // the mock cluster lives inside this handle's threads
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_;
};

}  // namespace bridge::kafka

#include "bridge/kafka/mock_cluster.h"

#include <fmt/format.h>

#include <array>

namespace bridge::kafka {

core::Result<std::unique_ptr<MockCluster>> MockCluster::start(int brokers) {
  ConfPtr conf(rd_kafka_conf_new());
  install_logger(conf.get());
  std::array<char, 512> err{};
  // The owning handle never connects anywhere; keep its "no bootstrap.servers" warning quiet.
  (void)rd_kafka_conf_set(conf.get(), "log_level", "3", err.data(), err.size());
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err.data(), err.size());
  if (rk == nullptr) {
    return core::fail(core::ErrorKind::fatal, "mock-cluster", err.data());
  }
  (void)conf.release();
  std::unique_ptr<MockCluster> self(new MockCluster());
  self->owner_.reset(rk);
  self->cluster_ = rd_kafka_mock_cluster_new(rk, brokers);
  if (self->cluster_ == nullptr) {
    return core::fail(core::ErrorKind::fatal, "mock-cluster", "cannot start the mock cluster");
  }
  self->bootstrap_ = rd_kafka_mock_cluster_bootstraps(self->cluster_);
  return self;
}

MockCluster::~MockCluster() {
  if (cluster_ != nullptr) {
    rd_kafka_mock_cluster_destroy(cluster_);
  }
}

core::Result<void> MockCluster::create_topic(const std::string& name, int partitions) {
  const auto e = rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return core::fail(core::ErrorKind::fatal, "mock-cluster",
                      fmt::format("cannot create topic {}: {}", name, rd_kafka_err2str(e)));
  }
  return {};
}

}  // namespace bridge::kafka

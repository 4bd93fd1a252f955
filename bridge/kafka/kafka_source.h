#pragma once
// The librdkafka KafkaConsumer behind source::Source: a consumer group over a topic list or a
// regex, cooperative-sticky assignment, auto offset *store* off (the pipeline stores offsets only
// for settled records), background commits of stored offsets, bounded prefetch.
//
// Threading: everything runs on the pipeline thread, including rebalance, commit and statistics
// callbacks, which librdkafka serves from inside rd_kafka_consumer_poll().

#include <atomic>
#include <memory>
#include <string>

#include "bridge/config/config.h"
#include "bridge/kafka/client_config.h"
#include "bridge/metrics/metrics.h"
#include "bridge/source/source.h"

namespace bridge::kafka {

class KafkaSource final : public source::Source {
 public:
  // Startup code: returns configuration errors rather than throwing.
  // `brokers` overrides cfg.brokers when non-empty (redrive reads the dead-letter cluster).
  static core::Result<std::unique_ptr<KafkaSource>> create(const config::KafkaConfig& cfg,
                                                           metrics::Metrics& metrics,
                                                           const std::string& brokers = {});
  ~KafkaSource() override;
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  void set_listener(source::RebalanceListener* listener) override { listener_ = listener; }
  [[nodiscard]] core::Result<void> poll(std::vector<source::Record>& out, std::size_t max,
                                        std::chrono::milliseconds timeout) override;
  void pause(std::span<const source::TopicPartition> partitions) override;
  void resume(std::span<const source::TopicPartition> partitions) override;
  void store(const source::TopicPartition& tp, std::int64_t next_offset) override;
  // Synchronous commits wait at most kCommitTimeout for the coordinator's answer.
  [[nodiscard]] core::Result<void> commit(bool synchronous) override;
  static constexpr std::chrono::milliseconds kCommitTimeout{10000};
  void close() override;

  // Number of partitions currently assigned (for /readyz; thread-safe).
  [[nodiscard]] int assigned() const { return assigned_.load(std::memory_order_relaxed); }
  // Sum of consumer lag over assigned partitions, from the latest statistics (thread-safe).
  [[nodiscard]] std::int64_t total_lag() const {
    return total_lag_.load(std::memory_order_relaxed);
  }

 private:
  // Commits the stored offsets and waits at most `timeout` for the answer (counted in metrics).
  rd_kafka_resp_err_t commit_within(std::chrono::milliseconds timeout);
  KafkaSource(metrics::Metrics& metrics) : metrics_(metrics) {}
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque);
  static void on_commit(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque);
  static int on_stats(rd_kafka_t* rk, char* json, size_t len, void* opaque);
  void handle_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  void update_lag(std::string_view stats_json);

  metrics::Metrics& metrics_;
  KafkaPtr rk_;
  source::RebalanceListener* listener_ = nullptr;
  std::atomic<int> assigned_{0};
  std::atomic<std::int64_t> total_lag_{0};
  bool closed_ = false;
  // 1 cooperative, 0 eager, -1 not known yet. Read once at the first assignment: calling
  // rd_kafka_rebalance_protocol() from the revoke inside consumer_close can hang (librdkafka
  // #4041).
  int cooperative_ = -1;
  // The batch poll() is filling, so a revoke in the middle of it can drop that batch's records
  // of the revoked partitions (they belong to the old assignment; the new owner, maybe this
  // instance again, refetches them from the committed offset).
  std::vector<source::Record>* collecting_ = nullptr;
};

}  // namespace bridge::kafka

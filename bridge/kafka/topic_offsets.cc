#include "bridge/kafka/topic_offsets.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "bridge/kafka/client_config.h"

namespace bridge::kafka {
namespace {

struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};

int timeout_ms(std::chrono::milliseconds t) {
  return static_cast<int>(t.count());
}

}  // namespace

core::Result<std::vector<PartitionOffsets>> topic_offsets(const config::KafkaConfig& cfg,
                                                          const std::string& brokers,
                                                          const std::string& topic,
                                                          const std::string& group,
                                                          std::chrono::milliseconds timeout) {
  auto conf = base_conf(cfg, brokers, {{"group.id", group}, {"enable.auto.commit", "false"}});
  if (!conf) {
    return tl::unexpected(conf.error());
  }
  std::array<char, 512> err{};
  KafkaPtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err.data(), err.size()));
  if (!rk) {
    return core::fail(core::ErrorKind::fatal, "kafka-client",
                      fmt::format("cannot create consumer: {}", err.data()));
  }
  (void)conf->release();  // owned by rk now

  std::unique_ptr<rd_kafka_topic_t, TopicDeleter> handle(
      rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
  const rd_kafka_metadata_t* raw = nullptr;
  if (const auto e = rd_kafka_metadata(rk.get(), 0, handle.get(), &raw, timeout_ms(timeout));
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return core::fail(core::ErrorKind::retry, "kafka-unreachable",
                      fmt::format("no metadata for topic '{}': {}", topic, rd_kafka_err2str(e)));
  }
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> metadata(raw);
  if (metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR ||
      metadata->topics[0].partition_cnt == 0) {
    const auto e =
        metadata->topic_cnt == 1 ? metadata->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    return core::fail(core::ErrorKind::permanent, "topic-missing",
                      fmt::format("topic '{}' not found: {}", topic, rd_kafka_err2str(e)));
  }

  std::vector<PartitionOffsets> out;
  std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter> list(
      rd_kafka_topic_partition_list_new(metadata->topics[0].partition_cnt));
  for (int i = 0; i < metadata->topics[0].partition_cnt; ++i) {
    PartitionOffsets p;
    p.partition = metadata->topics[0].partitions[i].id;
    if (const auto e = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p.partition,
                                                        &p.low, &p.high, timeout_ms(timeout));
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return core::fail(
          core::ErrorKind::retry, "kafka-unreachable",
          fmt::format("no offsets for {}/{}: {}", topic, p.partition, rd_kafka_err2str(e)));
    }
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p.partition);
    out.push_back(p);
  }
  if (const auto e = rd_kafka_committed(rk.get(), list.get(), timeout_ms(timeout));
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return core::fail(
        core::ErrorKind::retry, "kafka-unreachable",
        fmt::format("no committed offsets of group '{}': {}", group, rd_kafka_err2str(e)));
  }
  // The list holds the partitions in `out`'s order.
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::int64_t committed = list->elems[i].offset;
    out[i].committed = committed >= 0 ? committed : -1;
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.partition < b.partition; });
  return out;
}

}  // namespace bridge::kafka

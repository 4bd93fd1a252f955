#include "bridge/kafka/kafka_sink.h"

#include <fmt/format.h>

namespace bridge::kafka {

bool is_permanent_for_message(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return true;
    default:
      return false;
  }
}

core::Result<std::unique_ptr<KafkaSink>> KafkaSink::create(const config::KafkaConfig& cluster,
                                                           const config::KafkaSinkConfig& cfg) {
  auto producer = Producer::create(cluster, cfg.brokers, cfg.properties);
  if (!producer) {
    return tl::unexpected(producer.error());
  }
  return std::unique_ptr<KafkaSink>(new KafkaSink(std::move(*producer), cfg.topic));
}

void KafkaSink::send(std::span<const sink::Message> messages) {
  for (const auto& m : messages) {
    const std::string_view topic = m.target->topic.empty() ? topic_ : m.target->topic;
    const auto err = producer_.produce(topic, m.key, m.body, {}, m.ticket);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      continue;
    }
    const bool permanent = is_permanent_for_message(err);
    immediate_.push_back({m.ticket, permanent ? sink::Verdict::rejected : sink::Verdict::retry,
                          permanent ? "sink-rejected" : "sink-unavailable",
                          fmt::format("kafka: {}", rd_kafka_err2str(err))});
  }
}

void KafkaSink::poll(std::vector<sink::Outcome>& out, std::chrono::milliseconds wait) {
  for (auto& o : immediate_) {
    out.push_back(std::move(o));
  }
  immediate_.clear();
  reports_.clear();
  producer_.poll(reports_, out.empty() ? wait : std::chrono::milliseconds(0));
  for (const auto& r : reports_) {
    if (r.error == RD_KAFKA_RESP_ERR_NO_ERROR) {
      healthy_.store(true, std::memory_order_relaxed);
      out.push_back({r.ticket, sink::Verdict::delivered, {}, {}});
      continue;
    }
    const bool permanent = is_permanent_for_message(r.error);
    if (!permanent) {
      healthy_.store(false, std::memory_order_relaxed);
    }
    out.push_back({r.ticket, permanent ? sink::Verdict::rejected : sink::Verdict::retry,
                   permanent ? "sink-rejected" : "sink-unavailable",
                   fmt::format("kafka: {}", rd_kafka_err2str(r.error))});
  }
}

bool KafkaSink::flush(std::chrono::milliseconds deadline) {
  return producer_.flush(deadline);
}

}  // namespace bridge::kafka

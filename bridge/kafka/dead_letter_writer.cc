#include "bridge/kafka/dead_letter_writer.h"

#include <fmt/format.h>

#include "bridge/core/version.h"

namespace bridge::kafka {

core::Result<std::unique_ptr<DeadLetterWriter>> DeadLetterWriter::create(
    const config::KafkaConfig& cluster, const config::DeadLetterConfig& cfg) {
  std::map<std::string, std::string> props = {{"message.max.bytes", "67108864"}};
  for (const auto& [k, v] : cfg.properties) {
    props[k] = v;
  }
  // Never give up on a dead letter: the record must not be lost, so librdkafka retries until
  // it is written and the partition stays blocked behind it.
  props["message.timeout.ms"] = "0";
  auto producer = Producer::create(cluster, cfg.brokers, props);
  if (!producer) {
    return tl::unexpected(producer.error());
  }
  return std::unique_ptr<DeadLetterWriter>(new DeadLetterWriter(std::move(*producer), cfg.topic));
}

void DeadLetterWriter::write(const deadletter::Letter& letter) {
  const core::RecordView& rec = *letter.record;
  const std::string source = fmt::format("{}/{}/{}", rec.topic, rec.partition, rec.offset);
  headers_.assign(rec.headers.begin(), rec.headers.end());
  headers_.push_back({deadletter::kReasonHeader, letter.reason});
  headers_.push_back({deadletter::kMessageHeader, letter.message});
  headers_.push_back({deadletter::kSourceHeader, source});
  headers_.push_back({deadletter::kVersionHeader, core::version()});
  if (!letter.event_name.empty()) {
    headers_.push_back({deadletter::kEventHeader, letter.event_name});
  }
  const auto err = producer_.produce(topic_, rec.key, rec.payload, headers_, letter.ticket);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    immediate_.push_back({letter.ticket, false, rd_kafka_err2str(err)});
  }
}

void DeadLetterWriter::poll(std::vector<deadletter::WriteResult>& out,
                            std::chrono::milliseconds wait) {
  for (auto& r : immediate_) {
    out.push_back(std::move(r));
  }
  immediate_.clear();
  reports_.clear();
  producer_.poll(reports_, out.empty() ? wait : std::chrono::milliseconds(0));
  for (const auto& r : reports_) {
    out.push_back(
        {r.ticket, r.error == RD_KAFKA_RESP_ERR_NO_ERROR,
         r.error == RD_KAFKA_RESP_ERR_NO_ERROR ? std::string() : rd_kafka_err2str(r.error)});
  }
}

}  // namespace bridge::kafka

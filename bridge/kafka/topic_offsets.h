#pragma once
// Where a consumer group stands on a topic: per partition, the first and next offsets and the
// group's committed offset. `redrive` takes this snapshot before it starts, to know where the
// dead-letter topic ends and what is left for its group.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/core/result.h"

namespace bridge::kafka {

struct PartitionOffsets {
  std::int32_t partition = 0;
  std::int64_t low = 0;         // first offset still in the log
  std::int64_t high = 0;        // next offset to be written
  std::int64_t committed = -1;  // the group's committed offset; -1: none
  // Where the group resumes: its committed offset, else the start of the log (never before it).
  [[nodiscard]] std::int64_t start() const { return committed < low ? low : committed; }
};

// One blocking round of metadata, watermark and committed-offset requests, each bounded by
// `timeout`. Errors: transient "kafka-unreachable" (no answer), permanent "topic-missing".
// `brokers` overrides cfg.brokers when non-empty.
[[nodiscard]] core::Result<std::vector<PartitionOffsets>> topic_offsets(
    const config::KafkaConfig& cfg, const std::string& brokers, const std::string& topic,
    const std::string& group, std::chrono::milliseconds timeout);

}  // namespace bridge::kafka

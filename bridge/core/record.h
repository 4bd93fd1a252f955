#pragma once
// The consumed Kafka record as the pipeline sees it. The bytes that back these views are owned
// exactly once (by the pipeline's in-flight table, through source::Record) until its offset is
// stored; nothing downstream may keep a view past the call that received it.

#include <cstdint>
#include <span>
#include <string_view>

namespace bridge::core {

struct Header {
  std::string_view name;
  std::string_view value;
};

// What a record redriven from the dead-letter topic (bridge/redrive) carries about its first
// life. The views point into the record's own bytes (its headers).
struct Redrive {
  std::string_view topic;  // the topic it first came from: routes match this, not RecordView::topic
  std::string_view source;     // "topic/partition/offset" there (a new letter names it again)
  std::string_view reason;     // why it was dead-lettered last
  std::uint32_t attempts = 1;  // times it has been dead-lettered (capillary-bridge.attempts)
  bool pass_over = false;      // settled at once, neither transformed nor sent
  bool redrivable = true;      // false: passed over because it cannot be redriven (payload cut)
};

struct RecordView {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp_ms = 0;  // Kafka append/create time; 0 when unknown
  std::string_view key;
  std::string_view payload;
  std::span<const Header> headers;
  const Redrive* redrive = nullptr;  // set only by redrive
};

}  // namespace bridge::core

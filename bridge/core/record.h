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

struct RecordView {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp_ms = 0;  // Kafka append/create time; 0 when unknown
  std::string_view key;
  std::string_view payload;
  std::span<const Header> headers;
};

}  // namespace bridge::core

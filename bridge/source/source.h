#pragma once
// Where records come from. The pipeline talks to this interface; the composition root hands it a
// KafkaSource (librdkafka consumer group) and tests hand it fakes.
//
// Threading: every method, and every RebalanceListener callback, runs on the pipeline thread.
// Rebalance callbacks are delivered from inside poll().

#include <chrono>
#include <compare>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bridge/core/record.h"
#include "bridge/core/result.h"

namespace bridge::source {

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

// One consumed record. Owns the bytes its view points into (for Kafka: a copy of the message's
// bytes, never the librdkafka message itself, which would pin its whole fetch response) until it
// is destroyed; the pipeline keeps it alive until the record's offset is settled.
class Record {
 public:
  using Releaser = void (*)(void* handle);

  Record(core::RecordView view, std::vector<core::Header> headers, void* handle, Releaser release)
      : view_(view), headers_(std::move(headers)), handle_(handle, release) {}

  [[nodiscard]] core::RecordView view() const {
    core::RecordView v = view_;
    v.headers = headers_;
    return v;
  }
  // What the record holds, as counted against pipeline.max_inflight_bytes.
  [[nodiscard]] std::size_t size_bytes() const {
    std::size_t n = view_.topic.size() + view_.key.size() + view_.payload.size();
    for (const auto& h : headers_) {
      n += h.name.size() + h.value.size();
    }
    return n;
  }

 private:
  core::RecordView view_;  // headers span is filled in by view()
  std::vector<core::Header> headers_;
  std::unique_ptr<void, Releaser> handle_;
};

class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  virtual void on_assigned(std::span<const TopicPartition> partitions) = 0;
  // Called before the partitions are taken away. The listener stops working on them and calls
  // Source::store for what is settled; the source then commits synchronously and unassigns.
  // `lost` is true when the group already gave them to someone else (nothing can be committed).
  virtual void on_revoked(std::span<const TopicPartition> partitions, bool lost) = 0;
};

class Source {
 public:
  virtual ~Source() = default;
  virtual void set_listener(RebalanceListener* listener) = 0;
  // Appends up to `max` records to `out`, waiting at most `timeout` for the first one.
  [[nodiscard]] virtual core::Result<void> poll(std::vector<Record>& out, std::size_t max,
                                                std::chrono::milliseconds timeout) = 0;
  virtual void pause(std::span<const TopicPartition> partitions) = 0;
  virtual void resume(std::span<const TopicPartition> partitions) = 0;
  // Marks `next_offset` (one past the last settled record) as the position to commit for tp.
  virtual void store(const TopicPartition& tp, std::int64_t next_offset) = 0;
  // Commits stored positions. Asynchronous commits report failures through later calls/metrics.
  [[nodiscard]] virtual core::Result<void> commit(bool synchronous) = 0;
  // Leaves the group (revoke callbacks fire) and closes. Bounded by the session timeout.
  virtual void close() = 0;
};

}  // namespace bridge::source

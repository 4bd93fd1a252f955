#pragma once
// Contiguous-acknowledgement offset tracking for one partition. Records are tracked in the order
// they were consumed; a record is settled when every output was delivered or it was written to
// the dead-letter topic. The commit position only moves past a record once it and every record
// before it are settled, so a failed or slow record never lets a later offset be committed.
//
// Single-threaded: owned by the pipeline thread.

#include <cstdint>
#include <deque>
#include <optional>

namespace bridge::offsets {

class PartitionTracker {
 public:
  // Registers a consumed offset. Offsets must increase (gaps are fine: compaction, markers).
  // Returns false, and ignores the offset, when it does not increase.
  bool track(std::int64_t offset);
  // Marks a tracked offset settled. Returns false for an offset that is not pending.
  bool settle(std::int64_t offset);
  // One past the highest offset such that every tracked offset up to it is settled; nullopt
  // before the first settled prefix. This is what Kafka wants as the committed offset.
  [[nodiscard]] std::optional<std::int64_t> commit_position() const { return commit_position_; }
  [[nodiscard]] std::size_t pending() const { return entries_.size(); }
  // Forgets everything pending (partition revoked); the commit position is kept.
  void clear() { entries_.clear(); }

 private:
  struct Entry {
    std::int64_t offset;
    bool settled;
  };
  std::deque<Entry> entries_;  // ascending offsets; front is the oldest unsettled record
  std::optional<std::int64_t> commit_position_;
  std::optional<std::int64_t> last_tracked_;
};

}  // namespace bridge::offsets

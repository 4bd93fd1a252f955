#include "bridge/offsets/tracker.h"

#include <algorithm>

namespace bridge::offsets {

bool PartitionTracker::track(std::int64_t offset) {
  if (last_tracked_ && offset <= *last_tracked_) {
    return false;
  }
  last_tracked_ = offset;
  entries_.push_back({offset, false});
  return true;
}

bool PartitionTracker::settle(std::int64_t offset) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), offset,
                             [](const Entry& e, std::int64_t o) { return e.offset < o; });
  if (it == entries_.end() || it->offset != offset || it->settled) {
    return false;
  }
  it->settled = true;
  while (!entries_.empty() && entries_.front().settled) {
    commit_position_ = entries_.front().offset + 1;
    entries_.pop_front();
  }
  return true;
}

}  // namespace bridge::offsets

#pragma once
// The batch planner: which of the messages waiting in the Platform sink's worker (queues.h) the
// next request of an inlet takes. Pure: no I/O, no clock of its own.

#include <cstdint>
#include <utility>
#include <vector>

#include "bridge/platform/queues.h"

namespace bridge::platform {

// `{"messages":[` + `]}` around the comma-separated messages of a request.
inline constexpr std::size_t kRequestFraming = 15;

struct BatchLimits {
  std::uint32_t inlet = 0;
  std::size_t max_bytes = 0;  // the whole body
  std::size_t max_messages = 0;
  std::size_t concurrency = 1;  // requests in flight at most
};

struct BatchPlan {
  std::vector<std::pair<std::uint32_t, std::size_t>> takes;  // (partition, leading messages)
  std::size_t count = 0;
  std::size_t bytes = kRequestFraming;
  bool full = false;  // a limit stopped it: send now, without lingering
  Clock::time_point oldest = Clock::time_point::max();
};

// Plans the next request for `limits.inlet`, visiting partitions from `cursor` on. A request takes
// the leading messages of idle partitions whose next message is for the inlet (consecutive
// messages of one key may share it), within the byte and message limits and a message's
// `max_batch`, and at most ceil(partitions with work / concurrency) partitions, so that one hung
// request holds only its share of them, and at most a partition's `take_limit` of its messages.
// A first message over max_bytes still goes alone (the
// sink rejects messages that can never fit before they are queued).
void plan_batch(const PartitionQueues& partitions, std::size_t cursor, const BatchLimits& limits,
                BatchPlan& plan);

}  // namespace bridge::platform

#pragma once
// The messages waiting in the Platform sink's worker, per source partition, and the planner that
// decides which of them the next request of an inlet takes. Pure: no I/O, no clock of its own;
// owned by the worker thread (not thread-safe).

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bridge::platform {

using Clock = std::chrono::steady_clock;

// `{"messages":[` + `]}` around the comma-separated messages of a request.
inline constexpr std::size_t kRequestFraming = 15;

// One streaming message on its way. While queued it owns its bytes (`message`); once a request
// body is built the bytes live only in the body (`body_at`, `body_len`) and are copied back only
// when the message is queued again (split, bisect, re-auth).
struct Item {
  std::uint64_t ticket = 0;
  std::string message;
  std::uint32_t partition = 0;
  std::int64_t offset = 0;
  std::uint64_t epoch = 0;      // sink::Message::epoch
  std::uint64_t order_key = 0;  // hash of sink::Message::order_key; 0: the whole partition
  std::uint32_t inlet = 0;
  Clock::time_point enqueued;
  std::size_t body_at = 0;
  std::size_t body_len = 0;
  // Bisecting a request Platform refused as a whole: a request holding this message holds at
  // most this many (0: no limit).
  std::size_t max_batch = 0;
  bool released = false;  // its partition was released while it was in flight
};

struct PartitionQueue {
  std::deque<Item> queue;  // offset order
  bool busy = false;       // one of its messages is in a request in flight
  // After a retry: messages of this epoch or older (sent before the pipeline saw the retry)
  // are answered retry too; a newer epoch is the pipeline's re-send.
  std::optional<std::uint64_t> barrier;
  // After per-message failures in a 207: a request takes at most this many of its messages (0:
  // no limit). Halved on each such failure, doubled on each clean answer: under a per-message
  // failure rate, fewer accepted messages of a failed key are held back and sent again.
  std::size_t take_limit = 0;
};

// Indexed by interned partition id. A deque: growing it never moves a queue. std::deque's move
// constructor is not noexcept, so a std::vector of queues copied every queued message each time
// a new partition appeared (25 MiB of transient copies at start-up, 1M backlog, heaptrack).
using PartitionQueues = std::deque<PartitionQueue>;

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

#pragma once
// The messages waiting in the Platform sink's worker, one queue per source partition, and the
// rules that keep each partition's order while requests come and go: a partition is busy while
// one of its messages is in flight, a retry raises a barrier that refuses the partition's older
// messages until the pipeline's re-send begins, a request's messages go back to the front in
// order, a released partition starts afresh. Pure: no I/O, no clock, no metrics; owned by the
// worker thread (not thread-safe). Which messages the next request takes is batch.h's.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace bridge::platform {

using Clock = std::chrono::steady_clock;

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

class Queues {
 public:
  [[nodiscard]] const PartitionQueues& view() const { return parts_; }
  [[nodiscard]] std::size_t size() const { return parts_.size(); }

  // A message handed over by the pipeline joins the back of its partition. False (and `item`
  // untouched) when it was sent before the pipeline saw its partition's retry: it must be
  // answered retry, not overtake the re-send. A newer epoch lifts the barrier.
  bool admit(Item& item);

  // The leading `n` messages of `pid`, moved to `out`; the partition is busy until idle().
  void take(std::uint32_t pid, std::size_t n, std::vector<Item>& out);
  void idle(std::uint32_t pid);

  // The front message of an idle `pid` waiting for `inlet`, or nullptr.
  [[nodiscard]] Item* waiting(std::uint32_t pid, std::uint32_t inlet);
  Item pop(std::uint32_t pid);

  // A request's messages back at the front of their partitions, in request order, each
  // partition idle again. Released messages are moved to `dropped` instead.
  void put_back(std::vector<Item>& items, std::vector<Item>& dropped);

  // A retryable failure of a message of `epoch` in `pid`: the barrier rises to it (never falls)
  // and every message queued behind it moves to `later`, in offset order, to be answered retry.
  void bar(std::uint32_t pid, std::uint64_t epoch, std::vector<Item>& later);

  // The partition left this worker: its queued messages move to `dropped`; barrier and take
  // limit reset (a re-assignment starts afresh).
  void release(std::uint32_t pid, std::vector<Item>& dropped);

  // After a 207 settled `items` (request order, each partition's messages together): the take
  // limit halves for each partition `failed(pid)` says had a retryable verdict and doubles (up
  // to no limit at `max_messages`) for the others. Released messages leave it unchanged.
  template <class Failed>
  void adapt(const std::vector<Item>& items, const Failed& failed, std::size_t max_messages) {
    std::size_t i = 0;
    while (i < items.size()) {
      const std::uint32_t pid = items[i].partition;
      std::size_t taken = 0;
      bool released = false;
      for (; i < items.size() && items[i].partition == pid; ++i) {
        ++taken;
        released = released || items[i].released;
      }
      if (!released) {
        limit(pid, failed(pid), taken, max_messages);
      }
    }
  }

 private:
  PartitionQueue& at(std::uint32_t pid);
  void limit(std::uint32_t pid, bool failed, std::size_t taken, std::size_t max_messages);

  PartitionQueues parts_;
};

}  // namespace bridge::platform

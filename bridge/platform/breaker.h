#pragma once
// The dead-letter circuit breaker of one inlet. An outage or a configuration error on Platform's
// side (a dataset deleted, a schema changed, an inlet misrouted) makes Platform refuse good
// messages; dead-lettering them all would empty the stream into the dead-letter topic. The
// breaker watches, over a sliding window of time, the messages Platform answered: when at least
// `min_messages` were answered and more than `max_dead_letter_ratio` of them would be
// dead-lettered for sink reasons, it opens. While open, the sink answers such messages `retry`
// (their partitions pause and back off) instead of rejecting them; for `cooldown` nothing is sent
// on the inlet; after it, each request is a probe: one whose messages are mostly accepted closes
// the breaker, one that is mostly refused opens it for another cool-down.
//
// Not thread-safe: owned by the sink's worker thread. Time is passed in.

#include <chrono>
#include <cstdint>
#include <deque>

namespace bridge::platform {

struct BreakerSettings {
  std::chrono::milliseconds window{60000};
  std::int64_t min_messages = 100;
  double max_dead_letter_ratio = 0.5;
  std::chrono::milliseconds cooldown{30000};
};

class Breaker {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Breaker(BreakerSettings settings) : settings_(settings) {}

  // One message Platform answered while the breaker was closed: `dead` when the sink would
  // dead-letter it for a sink reason. May open the breaker.
  void record(bool dead, Clock::time_point now);
  // The verdicts of one request answered while the breaker was open (a probe): `dead` of
  // `total` messages would be dead-lettered. Closes or re-opens the breaker.
  void probe(std::int64_t dead, std::int64_t total, Clock::time_point now);

  [[nodiscard]] bool open() const { return open_; }
  // Open and still cooling down: nothing should be sent.
  [[nodiscard]] bool holding(Clock::time_point now) const {
    return open_ && now < opened_at_ + settings_.cooldown;
  }
  // Changes of state since the last call (for logs and the gauge): +1 opened, -1 closed, 0 none.
  int take_change();

 private:
  [[nodiscard]] bool too_many(std::int64_t dead, std::int64_t total) const;
  void prune(Clock::time_point now);

  // The window in 64 slices, so memory stays constant whatever the message rate.
  struct Slice {
    Clock::time_point start;
    std::int64_t total = 0;
    std::int64_t dead = 0;
  };
  static constexpr int kSlices = 64;

  BreakerSettings settings_;
  std::deque<Slice> slices_;  // oldest first
  std::int64_t total_ = 0;
  std::int64_t dead_ = 0;
  bool open_ = false;
  bool reported_open_ = false;
  Clock::time_point opened_at_{};
};

}  // namespace bridge::platform

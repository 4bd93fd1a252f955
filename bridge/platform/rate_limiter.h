#pragma once
// Client-side rate limits below Platform's per-org limits (reference/platform-streaming.md
// section 6.4: < 1000 requests/s and 10 000 messages/s), so the bridge slows itself down instead
// of collecting 429s. One bucket per limit; the sink asks both before a request.

#include <chrono>
#include <cstdint>

namespace bridge::platform {

// A token bucket, implemented as GCRA (a "theoretical arrival time" in integer nanoseconds)
// rather than a floating-point token count: after waiting exactly the returned duration, the
// same take succeeds, with no rounding that could turn into a 1 ns retry loop.
// Not thread-safe: owned and used by the sink's one thread.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // rate_per_second <= 0 means unlimited. burst = bucket size (values below 1 count as 1). The
  // bucket starts full.
  TokenBucket(double rate_per_second, double burst);

  // Takes `n` tokens if the bucket holds them and returns 0; otherwise takes nothing and returns
  // how long until it will. A request for more than `burst` is allowed once the bucket is full
  // (it goes into debt, which later takes wait out), so a big batch is never stuck forever.
  // n <= 0 takes nothing and returns 0. A `now` earlier than a previous call's is tolerated: the
  // bucket just looks emptier.
  [[nodiscard]] std::chrono::nanoseconds try_take(double n, Clock::time_point now);

  [[nodiscard]] bool unlimited() const;

 private:
  [[nodiscard]] std::chrono::nanoseconds cost(double n) const;

  double interval_ns_ = 0;  // nanoseconds per token; 0 when unlimited
  double burst_ = 1;
  std::chrono::nanoseconds capacity_{0};  // burst * interval: how far ahead the schedule may run
  // When the bucket will be full again; at or before `now` means full.
  Clock::time_point full_at_ = Clock::time_point::min();
};

}  // namespace bridge::platform

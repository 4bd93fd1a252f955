#include "bridge/platform/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace bridge::platform {
namespace {

// About 31 years: bounds the integer conversion of a cost for absurd n / tiny rates.
constexpr double kMaxCostNs = 1e18;

}  // namespace

TokenBucket::TokenBucket(double rate_per_second, double burst)
    : interval_ns_(rate_per_second > 0 ? 1e9 / rate_per_second : 0),
      burst_(std::max(burst, 1.0)),
      capacity_(cost(burst_)) {}

bool TokenBucket::unlimited() const {
  return interval_ns_ <= 0;
}

std::chrono::nanoseconds TokenBucket::cost(double n) const {
  return std::chrono::nanoseconds{std::llround(std::min(n * interval_ns_, kMaxCostNs))};
}

std::chrono::nanoseconds TokenBucket::try_take(double n, Clock::time_point now) {
  if (unlimited() || !(n > 0)) {
    return std::chrono::nanoseconds{0};
  }
  // The schedule never lags `now`: unused time beyond a full bucket is not banked.
  const Clock::time_point start = std::max(full_at_, now);
  if (n > burst_) {
    // More than the bucket can ever hold: wait until it is full, then let it through in debt.
    if (full_at_ > now) {
      return full_at_ - now;
    }
    full_at_ = start + cost(n);
    return std::chrono::nanoseconds{0};
  }
  const Clock::time_point next = start + cost(n);
  const Clock::time_point allowed_until = now + capacity_;
  if (next > allowed_until) {
    return next - allowed_until;
  }
  full_at_ = next;
  return std::chrono::nanoseconds{0};
}

}  // namespace bridge::platform

#include "bridge/platform/breaker.h"

namespace bridge::platform {

bool Breaker::too_many(std::int64_t dead, std::int64_t total) const {
  return total > 0 &&
         static_cast<double>(dead) > settings_.max_dead_letter_ratio * static_cast<double>(total);
}

void Breaker::prune(Clock::time_point now) {
  while (!seen_.empty() && seen_.front().first + settings_.window <= now) {
    dead_ -= seen_.front().second ? 1 : 0;
    seen_.pop_front();
  }
}

void Breaker::record(bool dead, Clock::time_point now) {
  if (open_) {
    return;
  }
  prune(now);
  seen_.emplace_back(now, dead);
  dead_ += dead ? 1 : 0;
  const auto total = static_cast<std::int64_t>(seen_.size());
  if (total >= settings_.min_messages && too_many(dead_, total)) {
    open_ = true;
    opened_at_ = now;
  }
}

void Breaker::probe(std::int64_t dead, std::int64_t total, Clock::time_point now) {
  if (!open_ || holding(now) || total == 0) {
    return;
  }
  if (too_many(dead, total)) {
    opened_at_ = now;  // still failing: another cool-down
    return;
  }
  open_ = false;
  seen_.clear();
  dead_ = 0;
}

int Breaker::take_change() {
  if (open_ == reported_open_) {
    return 0;
  }
  reported_open_ = open_;
  return open_ ? 1 : -1;
}

}  // namespace bridge::platform

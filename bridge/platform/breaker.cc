#include "bridge/platform/breaker.h"

#include <algorithm>

namespace bridge::platform {

bool Breaker::too_many(std::int64_t dead, std::int64_t total) const {
  return total > 0 &&
         static_cast<double>(dead) > settings_.max_dead_letter_ratio * static_cast<double>(total);
}

void Breaker::prune(Clock::time_point now) {
  while (!slices_.empty() && slices_.front().start + settings_.window <= now) {
    total_ -= slices_.front().total;
    dead_ -= slices_.front().dead;
    slices_.pop_front();
  }
}

void Breaker::record(bool dead, Clock::time_point now) {
  if (open_) {
    return;
  }
  prune(now);
  const auto width = std::max<Clock::duration>(Clock::duration(1), settings_.window / kSlices);
  if (slices_.empty() || now >= slices_.back().start + width) {
    slices_.push_back({now, 0, 0});
  }
  ++slices_.back().total;
  ++total_;
  if (dead) {
    ++slices_.back().dead;
    ++dead_;
  }
  if (total_ >= settings_.min_messages && too_many(dead_, total_)) {
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
  slices_.clear();
  total_ = 0;
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

#include "tests/harness/settlement.h"

#include <fmt/format.h>

#include <stdexcept>

namespace bridge::harness {

SettlementTracker::SettlementTracker(KafkaBroker& broker, std::string topic, std::string dlq,
                                     std::string group)
    : broker_(broker), topic_(std::move(topic)), dlq_(std::move(dlq)), group_(std::move(group)) {
  hw_ = broker_.high_watermarks(topic_);
  for (const auto& [p, high] : hw_) {
    settled_[p].assign(static_cast<std::size_t>(high), false);
    first_unsettled_[p] = 0;
  }
  for (auto& m : broker_.consume_all(topic_)) {
    std::string id = extract_event_id(m.value);
    if (id.empty()) {
      throw std::runtime_error(
          fmt::format("{}/{}/{} carries no eventId", topic_, m.partition, m.offset));
    }
    ids_.push_back(id);
    if (!where_.emplace(std::move(id), EventLocation{m.partition, m.offset}).second) {
      throw std::runtime_error(fmt::format("event id {} produced twice", ids_.back()));
    }
  }
}

void SettlementTracker::settle(const std::string& id) {
  const EventLocation& at = where_.at(id);
  auto& bits = settled_.at(at.partition);
  if (!bits[static_cast<std::size_t>(at.offset)]) {
    bits[static_cast<std::size_t>(at.offset)] = true;
    ++settled_count_;
  }
}

void SettlementTracker::observe(const EmulatorProcess* emulator) {
  ++observations_;
  // 1. Committed offsets first (see the header).
  committed_ = broker_.committed_offsets(group_, topic_);

  // 2. Accepted messages new since the last observation of this emulator life.
  if (emulator != nullptr) {
    const std::vector<std::string> lines = emulator->messages();
    for (std::size_t i = seen_in_life_; i < lines.size(); ++i) {
      ++accepted_lines_;
      const std::string id = extract_event_id(lines[i]);
      if (id.empty() || !where_.contains(id)) {
        ++foreign_;
        continue;
      }
      if (!accepted_.insert(id).second) {
        ++duplicates_;
        continue;
      }
      if (dead_ids_.contains(id)) {
        both_.push_back(id);
      }
      settle(id);
    }
    seen_in_life_ = std::max(seen_in_life_, lines.size());
  }

  // 3. Dead letters new since the last observation.
  const auto dlq_hw = broker_.high_watermarks(dlq_);
  std::int64_t dlq_total = 0;
  for (const auto& [p, high] : dlq_hw) {
    dlq_total += high;
  }
  if (dlq_total > static_cast<std::int64_t>(dead_.size())) {
    for (auto& letter : broker_.consume_all(dlq_)) {
      auto& next = dead_read_[letter.partition];
      if (letter.offset < next) {
        continue;  // read in an earlier observation (the topic is read from the start)
      }
      next = letter.offset + 1;
      DeadLetterRecord r;
      r.event_id = extract_event_id(letter.value);
      r.reason = letter.header("capillary-bridge.reason");
      r.message = letter.header("capillary-bridge.message");
      r.source = letter.header("capillary-bridge.source");
      r.headers = std::move(letter.headers);
      dead_ids_.insert(r.event_id);
      if (where_.contains(r.event_id)) {
        if (accepted_.contains(r.event_id)) {
          both_.push_back(r.event_id);
        }
        settle(r.event_id);
      }
      dead_.push_back(std::move(r));
    }
  }

  // 4. No committed offset may pass the first record that is neither accepted nor dead-lettered.
  for (const auto& [p, offset] : committed_) {
    auto& first = first_unsettled_[p];
    const auto& bits = settled_[p];
    while (first < static_cast<std::int64_t>(bits.size()) &&
           bits[static_cast<std::size_t>(first)]) {
      ++first;
    }
    if (offset > 0 && offset < hw_[p]) {
      ++partial_commits_;
    }
    if (offset > first) {
      violations_.push_back(fmt::format(
          "observation {}: partition {} committed at {} but offset {} was neither accepted nor "
          "dead-lettered",
          observations_, p, offset, first));
    }
  }
}

std::vector<std::string> SettlementTracker::unsettled(std::size_t max) const {
  std::vector<std::string> out;
  for (const auto& id : ids_) {
    const EventLocation& at = where_.at(id);
    if (!settled_.at(at.partition)[static_cast<std::size_t>(at.offset)]) {
      out.push_back(fmt::format("{} ({}/{})", id, at.partition, at.offset));
      if (out.size() >= max) {
        break;
      }
    }
  }
  return out;
}

}  // namespace bridge::harness

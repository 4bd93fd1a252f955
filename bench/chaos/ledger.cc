#include "bench/chaos/ledger.h"

#include <fmt/format.h>

#include <stdexcept>

#include "tests/harness/bridge.h"

namespace bridge::chaos {

void Ledger::add_good(const std::string& id, std::uint32_t customer, std::uint32_t seq) {
  const auto index = static_cast<std::uint32_t>(good_.size());
  if (!good_index_.emplace(id, index).second) {
    throw std::runtime_error("event id produced twice: " + id);
  }
  good_.push_back({id, customer, seq, 0, false});
}

void Ledger::add_bad(const std::string& key, const std::string& reason) {
  const auto index = static_cast<std::uint32_t>(bad_.size());
  if (!bad_index_.emplace(key, index).second) {
    throw std::runtime_error("bad record key used twice: " + key);
  }
  bad_.push_back({key, reason, 0, {}});
}

void Ledger::on_accepted(std::string_view line) {
  ++accepted_lines_;
  const auto it = good_index_.find(harness::extract_event_id(line));
  if (it == good_index_.end()) {
    ++foreign_;
    return;
  }
  Good& g = good_[it->second];
  if (g.accepted++ == 0 && !g.dead) {
    ++settled_;
  }
  arrivals_.push_back(it->second);
}

void Ledger::on_dead_letter(const harness::ConsumedMessage& letter) {
  ++dead_letters_;
  const std::string reason = letter.header("capillary-bridge.reason");
  ++dead_by_reason_[reason.empty() ? "(no reason)" : reason];
  if (const auto bad = bad_index_.find(letter.key); bad != bad_index_.end()) {
    Bad& b = bad_[bad->second];
    if (b.dead++ == 0) {
      b.first_reason = reason;
      ++settled_;
    }
    return;
  }
  const auto it = good_index_.find(harness::extract_event_id(letter.value));
  if (it == good_index_.end()) {
    ++unknown_dead_;
    return;
  }
  Good& g = good_[it->second];
  if (!g.dead) {
    g.dead = true;
    if (g.accepted == 0) {
      ++settled_;
    }
  }
}

std::size_t Ledger::order_violations(bool last_copy, std::vector<std::string>* examples) const {
  // The arrival position that counts for each event: its first or its last.
  std::vector<std::size_t> counted(good_.size(), SIZE_MAX);
  for (std::size_t pos = 0; pos < arrivals_.size(); ++pos) {
    auto& at = counted[arrivals_[pos]];
    if (last_copy || at == SIZE_MAX) {
      at = pos;
    }
  }
  std::unordered_map<std::uint32_t, std::uint32_t> highest;  // customer -> highest seq so far
  std::size_t violations = 0;
  for (std::size_t pos = 0; pos < arrivals_.size(); ++pos) {
    const std::uint32_t index = arrivals_[pos];
    if (counted[index] != pos) {
      continue;
    }
    const Good& g = good_[index];
    const auto [it, first] = highest.try_emplace(g.customer, g.seq);
    if (!first) {
      if (g.seq < it->second) {
        ++violations;
        if (examples != nullptr && examples->size() < 3) {
          examples->push_back(fmt::format("customer {}: {} (#{}) arrived at {} after #{} had",
                                          g.customer, g.id, g.seq, pos, it->second));
        }
      } else {
        it->second = g.seq;
      }
    }
  }
  return violations;
}

Outcome Ledger::outcome() const {
  Outcome o;
  o.input = records();
  o.good = good_.size();
  o.accepted_lines = accepted_lines_;
  o.foreign = foreign_;
  o.dead_by_reason = dead_by_reason_;
  o.dead_letters = dead_letters_;
  o.unknown_dead = unknown_dead_;
  for (const Good& g : good_) {
    o.accepted_unique += g.accepted > 0 ? 1U : 0U;
    o.duplicates += g.accepted > 1 ? g.accepted - 1U : 0U;
    o.good_dead += g.dead ? 1U : 0U;
    o.both += g.dead && g.accepted > 0 ? 1U : 0U;
    if (g.accepted == 0 && !g.dead) {
      ++o.lost;
      if (o.lost_examples.size() < 5) {
        o.lost_examples.push_back(g.id);
      }
    }
  }
  for (const Bad& b : bad_) {
    ++o.injected_by_reason[b.reason];
    if (b.dead == 0) {
      ++o.bad_missing;
      ++o.lost;
      if (o.lost_examples.size() < 5) {
        o.lost_examples.push_back("bad record " + b.key);
      }
    } else if (b.first_reason != b.reason) {
      ++o.bad_misfiled;
      if (o.misfiled_examples.size() < 5) {
        o.misfiled_examples.push_back(
            fmt::format("{}: expected {}, got {}", b.key, b.reason, b.first_reason));
      }
    }
  }
  o.order_first_copy = order_violations(false);
  o.order_last_copy = order_violations(true, &o.order_examples);
  return o;
}

}  // namespace bridge::chaos

#include "bridge/redrive/tally.h"

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <algorithm>

namespace bridge::redrive {

std::string_view reason_label(std::string_view reason) {
  const bool code = !reason.empty() && reason.size() <= 40 &&
                    std::all_of(reason.begin(), reason.end(), [](char c) {
                      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                    });
  return code ? reason : "other";
}

Tally::Tally(metrics::Metrics* metrics) {
  if (metrics != nullptr) {
    family_ = &prometheus::BuildCounter()
                   .Name("capillary_bridge_redrive_letters_total")
                   .Help(
                       "Dead letters redrive settled, by the reason they were dead-lettered for "
                       "and outcome: delivered, filtered, failed (dead-lettered again), "
                       "passed_over (not selected), not_redrivable (payload cut)")
                   .Register(*metrics->registry());
  }
}

void Tally::settled(const core::RecordView& record, pipeline::Settled how,
                    std::string_view reason) {
  if (record.redrive == nullptr) {
    return;
  }
  const core::Redrive& r = *record.redrive;
  const std::string_view label = reason_label(r.reason);
  ReasonCounts& c = reasons_[std::string(label)];
  ++c.letters;
  std::string_view outcome;
  switch (how) {
    case pipeline::Settled::delivered:
      ++c.delivered;
      outcome = "delivered";
      break;
    case pipeline::Settled::filtered:
      ++c.filtered;
      outcome = "filtered";
      break;
    case pipeline::Settled::dead_lettered:
      ++c.failed;
      ++c.failed_by[std::string(reason_label(reason))];
      outcome = "failed";
      break;
    case pipeline::Settled::passed_over:
      if (r.redrivable) {
        ++c.passed_over;
        outcome = "passed_over";
      } else {
        ++c.not_redrivable;
        outcome = "not_redrivable";
      }
      break;
  }
  if (family_ != nullptr) {
    family_->Add({{"reason", std::string(label)}, {"outcome", std::string(outcome)}}).Increment();
  }
}

ReasonCounts Tally::total() const {
  ReasonCounts t;
  for (const auto& [reason, c] : reasons_) {
    t.letters += c.letters;
    t.delivered += c.delivered;
    t.filtered += c.filtered;
    t.failed += c.failed;
    t.passed_over += c.passed_over;
    t.not_redrivable += c.not_redrivable;
    for (const auto& [r, n] : c.failed_by) {
      t.failed_by[r] += n;
    }
  }
  return t;
}

void Tally::print(std::ostream& out, bool dry_run) const {
  std::size_t width = 6;  // "reason", "total"
  for (const auto& [reason, c] : reasons_) {
    width = std::max(width, reason.size());
  }
  const char* sent = dry_run ? "would send" : "delivered";
  const char* failed = dry_run ? "would fail" : "failed again";
  // One layout for the header and the rows.
  const auto line = [&](std::string_view name, const auto&... columns) {
    out << fmt::format("{:<{}}  {:>8}  {:>12}  {:>8}  {:>12}  {:>11}  {:>14}\n", name, width,
                       columns...);
  };
  line("reason", "letters", sent, "filtered", failed, "passed over", "not redrivable");
  const auto row = [&](std::string_view name, const ReasonCounts& c) {
    line(name, c.letters, c.delivered, c.filtered, c.failed, c.passed_over, c.not_redrivable);
  };
  for (const auto& [reason, c] : reasons_) {
    row(reason, c);
  }
  const ReasonCounts t = total();
  row("total", t);
  if (!t.failed_by.empty()) {
    out << (dry_run ? "would fail, by new reason:" : "failed again, by new reason:");
    for (const auto& [reason, n] : t.failed_by) {
      out << fmt::format(" {} {}", reason, n);
    }
    out << "\n";
  }
}

}  // namespace bridge::redrive

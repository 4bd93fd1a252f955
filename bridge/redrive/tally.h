#pragma once
// What became of each letter, per the reason it was dead-lettered for: counted as letters settle
// (Pipeline::set_settled_hook, before their offsets may be committed), exported as
// capillary_bridge_redrive_letters_total{reason, outcome} and printed as the summary table.

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <string_view>

#include "bridge/metrics/metrics.h"
#include "bridge/pipeline/pipeline.h"

namespace bridge::redrive {

struct ReasonCounts {
  std::uint64_t letters = 0;
  std::uint64_t delivered = 0;       // every output delivered (dry run: would be sent)
  std::uint64_t filtered = 0;        // the current routes make no outputs of it
  std::uint64_t failed = 0;          // dead-lettered again (dry run: would be)
  std::uint64_t passed_over = 0;     // not selected (--reason, --since)
  std::uint64_t not_redrivable = 0;  // a reduced letter, or not one the bridge wrote
  std::map<std::string, std::uint64_t> failed_by;  // new reason -> letters
};

class Tally {
 public:
  // `metrics` null: no metrics (dry run).
  explicit Tally(metrics::Metrics* metrics);

  // The pipeline's settled hook. Records that are not redriven letters are ignored.
  void settled(const core::RecordView& record, pipeline::Settled how, std::string_view reason);

  [[nodiscard]] const std::map<std::string, ReasonCounts>& by_reason() const { return reasons_; }
  [[nodiscard]] ReasonCounts total() const;

  // The summary table; `dry_run` names the columns for what would happen.
  void print(std::ostream& out, bool dry_run) const;

 private:
  prometheus::Family<prometheus::Counter>* family_ = nullptr;
  std::map<std::string, ReasonCounts> reasons_;
};

// A reason code as a metric label: the code when it looks like one (lower-case letters, digits
// and '-', at most 40), else "other" (a letter written by something else).
[[nodiscard]] std::string_view reason_label(std::string_view reason);

}  // namespace bridge::redrive

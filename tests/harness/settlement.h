#pragma once
// At-least-once bookkeeping for tests of the Platform sink: where every produced event sits in
// Kafka (partition, offset), which of them the emulator accepted and which are in the dead-letter
// topic, and whether a committed offset ever passed a record that was neither.
//
// An observation reads the group's committed offsets FIRST and the settled records after: a
// record settled at commit time is still settled later, so "committed offset <= first record not
// yet settled" is a sound check (it can miss a violation that healed in between, never invent
// one). The emulator's /emulator/messages is append-only within one emulator life, so each
// observation only reads the lines it has not seen.

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tests/harness/emulator.h"
#include "tests/harness/kafka_broker.h"

namespace bridge::harness {

struct EventLocation {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};

struct DeadLetterRecord {
  std::string event_id;
  std::string reason;   // capillary-bridge.reason
  std::string message;  // capillary-bridge.message
  std::string source;   // capillary-bridge.source
  Headers headers;      // all of them
};

class SettlementTracker {
 public:
  // Reads `topic` back (every record must carry an eventId) to learn where each event landed.
  SettlementTracker(KafkaBroker& broker, std::string topic, std::string dlq, std::string group);

  // Committed offsets, then the emulator's new accepted messages (skipped when `emulator` is
  // null, e.g. while it is down: then nothing new can have been accepted), then new dead letters;
  // records every committed offset that passes an unsettled record.
  void observe(const EmulatorProcess* emulator);
  // The emulator is about to be restarted: its next messages() starts from zero again.
  void emulator_restarted() { seen_in_life_ = 0; }

  [[nodiscard]] std::size_t events() const { return where_.size(); }
  [[nodiscard]] const std::vector<std::string>& ids() const { return ids_; }
  [[nodiscard]] const EventLocation& where(const std::string& id) const { return where_.at(id); }
  [[nodiscard]] const std::map<std::int32_t, std::int64_t>& high_watermarks() const { return hw_; }

  [[nodiscard]] std::size_t accepted_unique() const { return accepted_.size(); }
  [[nodiscard]] std::size_t accepted_lines() const { return accepted_lines_; }
  [[nodiscard]] std::size_t duplicates() const { return duplicates_; }
  // Accepted lines without an eventId, or with one this test did not produce.
  [[nodiscard]] std::size_t foreign() const { return foreign_; }
  [[nodiscard]] bool accepted(const std::string& id) const { return accepted_.contains(id); }
  [[nodiscard]] const std::vector<DeadLetterRecord>& dead_letters() const { return dead_; }
  // Ids both accepted by the emulator and dead-lettered.
  [[nodiscard]] const std::vector<std::string>& both() const { return both_; }
  // Records accepted or dead-lettered (counted once).
  [[nodiscard]] std::size_t settled() const { return settled_count_; }
  // Up to `max` ids neither accepted nor dead-lettered.
  [[nodiscard]] std::vector<std::string> unsettled(std::size_t max = 10) const;
  // One line per committed offset seen past an unsettled record.
  [[nodiscard]] const std::vector<std::string>& violations() const { return violations_; }
  [[nodiscard]] std::size_t observations() const { return observations_; }
  // Committed offsets checked while their partition was partly settled (0 < offset < high
  // watermark): how much the no-passing check had to bite on.
  [[nodiscard]] std::size_t partial_commits_checked() const { return partial_commits_; }
  // The last committed offsets seen.
  [[nodiscard]] const std::map<std::int32_t, std::int64_t>& committed() const { return committed_; }

 private:
  void settle(const std::string& id);

  KafkaBroker& broker_;
  std::string topic_, dlq_, group_;
  std::vector<std::string> ids_;
  std::unordered_map<std::string, EventLocation> where_;
  std::map<std::int32_t, std::int64_t> hw_;
  std::map<std::int32_t, std::vector<bool>> settled_;  // partition -> offset -> settled
  std::map<std::int32_t, std::int64_t> first_unsettled_;
  std::size_t settled_count_ = 0;

  std::unordered_set<std::string> accepted_;
  std::size_t accepted_lines_ = 0;
  std::size_t duplicates_ = 0;
  std::size_t foreign_ = 0;
  std::size_t seen_in_life_ = 0;

  std::unordered_set<std::string> dead_ids_;
  std::map<std::int32_t, std::int64_t> dead_read_;  // dead-letter partition -> next offset to read
  std::vector<DeadLetterRecord> dead_;
  std::vector<std::string> both_;

  std::map<std::int32_t, std::int64_t> committed_;
  std::vector<std::string> violations_;
  std::size_t observations_ = 0;
  std::size_t partial_commits_ = 0;
};

}  // namespace bridge::harness

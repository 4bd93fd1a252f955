#pragma once
// The exact books of one chaos scenario: every record produced (good events with their
// customer and per-customer sequence number, bad records with the dead-letter reason they must
// get), every message the emulator accepted in arrival order (across emulator restarts), and
// every dead letter. From these: accepted unique, duplicates, dead letters by reason, lost
// (neither accepted nor dead-lettered) and per-customer order violations.
//
// Good events are identified by their Capillary eventId (the catalogue copies it into the
// ExperienceEvent as `_acme.capillary.eventId`, and a dead letter carries the original bytes);
// bad records by their Kafka key, which dead letters keep.
//
// Single-threaded: the scenario's observer thread owns it.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tests/harness/kafka_broker.h"

namespace bridge::chaos {

struct Outcome {
  std::size_t input = 0;  // records produced, good and bad
  std::size_t good = 0;
  std::size_t accepted_unique = 0;  // good events the emulator accepted at least once
  std::size_t accepted_lines = 0;   // every accepted message, copies included
  std::size_t duplicates = 0;       // accepted copies beyond the first, of our events
  std::size_t foreign = 0;          // accepted messages that are not a good event of ours
  std::map<std::string, std::size_t> dead_by_reason;  // capillary-bridge.reason -> letters
  std::size_t dead_letters = 0;
  std::size_t good_dead = 0;     // good events dead-lettered (a sink verdict)
  std::size_t both = 0;          // good events accepted and dead-lettered
  std::size_t bad_missing = 0;   // bad records never dead-lettered
  std::size_t bad_misfiled = 0;  // bad records dead-lettered with another reason than expected
  std::size_t unknown_dead = 0;  // dead letters that are neither a good event nor a bad record
  std::size_t lost = 0;          // records neither accepted nor dead-lettered
  std::vector<std::string> lost_examples;
  std::vector<std::string> misfiled_examples;
  // Per-customer order in the emulator's arrival order: messages that arrived after a later
  // message of their customer, taking each message's first arrival (first-copy) or its last
  // (last-copy).
  std::size_t order_first_copy = 0;
  std::size_t order_last_copy = 0;
  std::vector<std::string> order_examples;  // the first last-copy violations, for the notes
  std::map<std::string, std::size_t> injected_by_reason;  // bad records per expected reason
};

class Ledger {
 public:
  // A good event: ordering `customer` and its place in that customer's sequence (0, 1, ...).
  void add_good(const std::string& id, std::uint32_t customer, std::uint32_t seq);
  // A bad record, recognised by its Kafka `key`, that must be dead-lettered as `reason`.
  void add_bad(const std::string& key, const std::string& reason);

  // One accepted message from the emulator, in arrival order.
  void on_accepted(std::string_view line);
  void on_dead_letter(const harness::ConsumedMessage& letter);

  // Records accepted or dead-lettered (each counted once).
  [[nodiscard]] std::size_t settled() const { return settled_; }
  [[nodiscard]] std::size_t records() const { return good_.size() + bad_.size(); }
  [[nodiscard]] Outcome outcome() const;

 private:
  struct Good {
    std::string id;
    std::uint32_t customer = 0;
    std::uint32_t seq = 0;
    std::uint32_t accepted = 0;
    bool dead = false;
  };
  struct Bad {
    std::string key;
    std::string reason;
    std::uint32_t dead = 0;
    std::string first_reason;  // the reason of its first dead letter
  };
  // `examples` (when given) receives the first few violations in words.
  [[nodiscard]] std::size_t order_violations(bool last_copy,
                                             std::vector<std::string>* examples = nullptr) const;

  std::vector<Good> good_;
  std::unordered_map<std::string, std::uint32_t> good_index_;
  std::vector<Bad> bad_;
  std::unordered_map<std::string, std::uint32_t> bad_index_;
  std::vector<std::uint32_t> arrivals_;  // good_ index per accepted message, arrival order
  std::size_t accepted_lines_ = 0;
  std::size_t foreign_ = 0;
  std::map<std::string, std::size_t> dead_by_reason_;
  std::size_t dead_letters_ = 0;
  std::size_t unknown_dead_ = 0;
  std::size_t settled_ = 0;
};

}  // namespace bridge::chaos

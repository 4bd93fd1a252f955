#pragma once
// One chaos scenario in progress: its topics, the records it produced (booked in a Ledger), the
// platform-emulator and the capillary-bridge processes it drives, and the observation loop that
// reads the emulator's accepted messages and the dead-letter topic while faults are injected.
// finish() stops every process, takes the final books and applies the checks.
//
// Threads: everything runs on the caller's thread except the paced producer (broker only) and
// the RSS sampler. The destructor kills whatever is still running.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/chaos/ledger.h"
#include "bench/chaos/probes.h"
#include "tests/harness/bridge.h"
#include "tests/harness/emulator.h"
#include "tests/harness/kafka_broker.h"

namespace bridge::chaos {

struct Options {
  bool quick = false;
  std::uint64_t seed = 1;
};

// One line of the table, plus what a reader needs when it failed.
struct Row {
  std::string name;
  Outcome outcome;
  double max_rss_mib = 0;
  double settle_s = 0;  // first bridge start -> every record accepted or dead-lettered
  double total_s = 0;   // the whole scenario, set-up and teardown included
  bool settled = false;
  std::string exits;
  std::size_t stuck_partitions = 0;  // committed offset short of the high watermark at the end
  bool stuck_checked = true;
  std::vector<std::string> failures;  // failed checks; empty = pass
  std::vector<std::string> notes;
};

// How good events are shaped and keyed.
struct EventShape {
  int customers = 500;
  int unkeyed_every = 5;       // every n-th customer's events carry no Kafka key (0 = none)
  std::size_t line_items = 0;  // make_capillary_event's size knobs
  std::size_t description_bytes = 0;
};

// What the final books must show beyond the common checks (nothing lost, last-copy order,
// no stuck partition, no accepted-and-dead-lettered event, exit 0 on the final SIGTERM).
struct Expectations {
  bool no_dead_letters = false;              // nothing at all in the dead-letter topic
  bool no_good_dead_letters = false;         // only the injected bad records
  bool dead_letters_match_injected = false;  // per reason exactly the injected counts
  std::optional<int> exit_code;  // the bridge must exit by itself with this code (then lost and
                                 // stuck are not checked)
  std::optional<double> max_duplicate_share;  // duplicates / input
  std::optional<double> max_rss_mib;          // peak RSS of any bridge process
};

class Run {
 public:
  Run(harness::KafkaBroker& broker, const Options& options, std::string name);
  ~Run();
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  [[nodiscard]] bool quick() const { return options_.quick; }
  [[nodiscard]] std::mt19937_64& rng() { return rng_; }
  [[nodiscard]] const std::string& topic() const { return topic_; }
  [[nodiscard]] const std::string& dlq() const { return dlq_; }
  [[nodiscard]] Ledger& ledger() { return ledger_; }
  [[nodiscard]] harness::KafkaBroker& broker() { return broker_; }
  Expectations expect;
  // Set while the scenario has the broker stopped: observations leave the dead letters alone.
  bool broker_down = false;

  // The events topic; the dead-letter topic with `dlq_config`, or none at all when nullopt.
  void create_topics(int partitions, const std::map<std::string, std::string>& events_config = {},
                     const std::optional<std::map<std::string, std::string>>& dlq_config =
                         std::map<std::string, std::string>{});

  // `n` good events in per-customer sequence order, booked in the ledger.
  [[nodiscard]] std::vector<harness::ProduceMessage> good_events(int n, const EventShape& shape);
  // A bad record keyed "bad-<n>", booked with the reason it must be dead-lettered with.
  [[nodiscard]] harness::ProduceMessage bad_record(std::string value, const std::string& reason,
                                                   std::int32_t partition = -1);
  void produce(const std::vector<harness::ProduceMessage>& messages);
  // Produces `messages` evenly over `span` from a background thread (in order).
  void produce_paced(std::vector<harness::ProduceMessage> messages, std::chrono::milliseconds span);
  [[nodiscard]] bool producing() const;

  harness::EmulatorProcess& start_emulator(std::vector<std::string> args = {});
  [[nodiscard]] harness::EmulatorProcess& emulator() { return *emulator_; }
  // Holds every new request (hang), reads what was accepted, SIGKILLs the emulator, observes
  // for `down`, restarts it on the same port.
  void kill_emulator_for(std::chrono::milliseconds down);

  // Adds and starts a bridge instance (catalogue routes, platform sink at the emulator).
  std::size_t add_bridge(const std::function<void(harness::BridgeConfig&)>& tune = {});
  void start_bridge(std::size_t i);
  void kill_bridge(std::size_t i);  // SIGKILL and reap
  void stop_bridge(std::size_t i);  // SIGTERM (graceful leave) and reap
  // Observes until bridge `i` exits by itself (its status), or nullopt after `timeout`.
  std::optional<harness::ExitStatus> wait_bridge_exit(std::size_t i,
                                                      std::chrono::milliseconds timeout);
  [[nodiscard]] harness::BridgeProcess& bridge(std::size_t i) { return *bridges_[i].process; }

  // Reads new accepted messages and dead letters; notices bridges that exited on their own.
  void observe();
  // Observes about every 500 ms until `done` or `timeout`; true when `done`.
  bool observe_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  void observe_for(std::chrono::milliseconds span) {
    (void)observe_until([] { return false; }, span);
  }
  // Observes until every record is accepted or dead-lettered (the settle time is recorded).
  bool wait_settled(std::chrono::milliseconds timeout);
  // Seconds from the first bridge start until everything was settled, once it was.
  [[nodiscard]] std::optional<double> settled_after() const { return settled_after_; }
  [[nodiscard]] std::size_t accepted_lines() const { return accepted_lines_; }
  [[nodiscard]] bool any_bridge_running();

  void note(std::string text) { row_.notes.push_back(std::move(text)); }
  void fail(std::string text) { row_.failures.push_back(std::move(text)); }

  // SIGTERM to every running bridge, final books, stuck-partition and expectation checks.
  [[nodiscard]] Row finish();

 private:
  struct Instance {
    std::unique_ptr<harness::BridgeProcess> process;
    bool expected_running = false;
  };
  void read_dead_letters();
  void reap(Instance& b, const std::optional<harness::ExitStatus>& status, const char* how);

  harness::KafkaBroker& broker_;
  Options options_;
  std::mt19937_64 rng_;
  harness::TempDir dir_;
  std::string topic_, dlq_, group_;
  bool dlq_exists_ = true;
  int partitions_ = 0;

  Ledger ledger_;
  AcceptedFeed feed_;
  std::size_t accepted_lines_ = 0;
  std::map<std::int32_t, std::int64_t> dead_read_;  // dead-letter partition -> next offset
  std::int64_t dead_total_ = 0;
  RssSampler rss_;
  ExitTally exits_;

  std::unique_ptr<harness::EmulatorProcess> emulator_;
  bool emulator_down_ = false;
  std::vector<Instance> bridges_;
  std::thread producer_;
  std::atomic<bool> producing_{false};
  std::string producer_error_;

  std::chrono::steady_clock::time_point created_;
  std::optional<std::chrono::steady_clock::time_point> first_start_;
  std::optional<double> settled_after_;
  Row row_;
  int customers_ = 0;
  std::map<std::uint32_t, std::uint32_t> next_seq_;
  int next_good_ = 0;
  int next_bad_ = 0;
};

}  // namespace bridge::chaos

#pragma once
// The running spine: poll records from the source, transform each into outputs, hand outputs to
// the sink, collect per-output verdicts, dead-letter what cannot be delivered, and move each
// partition's committed offset only past records that are settled (delivered or dead-lettered).
//
// Threading: run() owns the calling thread and every component handed in (source, sink, dead
// letter writer); nothing else touches them. request_stop(), healthy() and ready() are the only
// members safe to call from other threads. Transforms run on `pipeline.workers` threads
// (workers.h), each partition on one of them for as long as it is assigned, so its records are
// transformed in offset order and come back in that order; with workers = 0 they run on the
// calling thread.
//
// Guarantees implemented here (design.md): at-least-once (offsets follow the contiguous settled
// prefix), order per ordering key (a partition whose output must be retried is paused and its
// records re-sent in offset order after a backoff; each output carries the customer the
// transform resolved, else the record key, as its ordering key), bounded memory (partitions
// pause above the in-flight caps, which count the sink's copies too), bad input never stops the
// stream (every reject is dead-lettered).
//
// Transform errors by kind: reject/permanent → dead letter; retry → the partition waits and the
// record is transformed again after a backoff; fatal → the pipeline stops at once without
// storing an offset past the record, and run() returns the error (exit 1).
// Dead letters: a transient write failure is retried with backoff; a permanent one (too large
// for the topic, not authorized, topic gone) is answered with a reduced letter; if even that is
// refused for good, the pipeline stops with an error naming topic, partition and offset.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/deadletter/writer.h"
#include "bridge/metrics/metrics.h"
#include "bridge/offsets/tracker.h"
#include "bridge/pipeline/workers.h"
#include "bridge/sink/sink.h"
#include "bridge/source/source.h"
#include "transforms/api/router.h"

namespace bridge::pipeline {

struct Stats {
  std::uint64_t consumed = 0;
  std::uint64_t delivered = 0;      // records whose outputs were all delivered
  std::uint64_t filtered = 0;       // records a transform turned into zero outputs
  std::uint64_t dead_lettered = 0;  // records written to the dead-letter topic
  std::map<std::string, std::uint64_t> dead_letter_reasons;  // reason code -> records
  std::uint64_t retries = 0;            // outputs re-sent after a `retry` verdict
  std::uint64_t transform_retries = 0;  // records whose transform asked to be retried
  std::uint64_t reduced_dead_letters = 0;
  std::uint64_t passed_over = 0;  // redrive: letters not selected, settled untouched
  std::int64_t inflight_records = 0;
  std::int64_t inflight_bytes = 0;
  std::int64_t sink_held_bytes = 0;  // what the sink holds for unanswered outputs
  int assigned_partitions = 0;
  int paused_partitions = 0;
};

struct Dependencies {
  source::Source& source;
  sink::Sink& sink;
  deadletter::Writer& dead_letters;
  metrics::Metrics& metrics;
  std::shared_ptr<const transforms::RouterPlan> plan;
};

// How a record settled, for Pipeline::set_settled_hook.
enum class Settled : std::uint8_t {
  delivered,      // every output delivered
  filtered,       // the transform made no outputs
  dead_lettered,  // written to the dead-letter topic (the hook's reason says why)
  passed_over,    // RecordView::redrive->pass_over: settled untouched
};

// Error code of run() when the drain ended with records unsettled (redelivered after restart).
inline constexpr std::string_view kDrainDeadline = "drain-deadline";

class Pipeline final : public source::RebalanceListener {
 public:
  Pipeline(Dependencies deps, config::PipelineConfig cfg);
  ~Pipeline() override;
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Runs until request_stop(); then stops fetching, drains in-flight work for at most
  // cfg.drain_timeout, commits and closes the source. Returns an error for a fatal condition
  // (the consumer's fatal error, a fatal transform error, a dead letter refused for good, an
  // exception on another thread: code as reported) and, with code "drain-deadline", when the
  // drain ended with records still unsettled (they are redelivered from the committed offset).
  [[nodiscard]] core::Result<void> run();
  void request_stop() { stop_requested_.store(true, std::memory_order_relaxed); }

  // Called on the pipeline thread about once a second (progress line, bounded runs).
  void set_tick(std::function<void(const Stats&)> tick) { tick_ = std::move(tick); }
  // Called on the pipeline thread as each record settles, before its offset may be committed
  // (redrive counts outcomes per letter with it). `reason`: the dead-letter reason, else empty.
  using SettledHook =
      std::function<void(const core::RecordView& record, Settled how, std::string_view reason)>;
  void set_settled_hook(SettledHook hook) { settled_hook_ = std::move(hook); }

  // Liveness: the loop turned within the last 30 s. Readiness: partitions assigned and the
  // sink reachable. Both thread-safe.
  [[nodiscard]] bool healthy() const;
  [[nodiscard]] bool ready() const;

  [[nodiscard]] Stats stats() const { return stats_; }

  // source::RebalanceListener (pipeline thread, from inside Source::poll).
  void on_assigned(std::span<const source::TopicPartition> partitions) override;
  void on_revoked(std::span<const source::TopicPartition> partitions, bool lost) override;

 private:
  using Clock = std::chrono::steady_clock;

  struct Partition;

  enum class OutputState : std::uint8_t { unsent, sent, delivered, retry_wait };
  struct Output {
    transforms::OutputKind kind;
    const transforms::Target* target;
    std::string body;  // empty when `unchanged`
    bool unchanged;
    OutputState state;
  };

  enum class Fate : std::uint8_t {
    delivering,
    dead_lettering,
    dead_letter_retry_wait,
    dead_lettered
  };
  struct Pending {
    Pending(source::Record r, Partition* part, std::uint64_t s)
        : record(std::move(r)), partition(part), seq(s) {}
    source::Record record;
    Partition* partition;
    std::uint64_t seq = 0;
    bool transforming = false;  // out on a worker (its job is the worker's; outputs are empty)
    std::vector<Output> outputs;
    std::string order_key;          // the customer the transform resolved; empty: none
    bool needs_transform = false;   // the transform asked to be retried
    bool reduced = false;           // a reduced dead letter was asked for
    std::uint32_t outstanding = 0;  // outputs sent without a verdict
    std::int64_t bytes = 0;         // counted in inflight_bytes: the record plus output bodies
    Fate fate = Fate::delivering;
    std::string reason;            // dead-letter reason code
    std::string message;           // dead-letter message
    int dead_letter_attempts = 0;  // failed dead-letter writes so far (backoff grows with them)
    std::string_view event;  // Capillary event name (Metrics::event_label storage), when known
    Clock::time_point sent_at;
  };

  struct Partition {
    source::TopicPartition tp;
    offsets::PartitionTracker tracker;
    std::optional<std::int64_t> stored;
    std::deque<std::uint64_t> order;  // seqs of pending records, in offset order
    bool paused = false;              // paused at the source (by us)
    bool blocked = false;             // an output must be re-sent: hold everything behind it
    bool over_share = false;  // holds more than its share of max_inflight_bytes (backpressure)
    std::int64_t bytes = 0;   // Pending::bytes of its records
    int retry_attempts = 0;
    Clock::time_point retry_at;
    bool dirty = false;  // commit position moved since the last Source::store
    // Sink::Message::epoch of this partition's sends: new at assignment and at every re-send
    // after a retry, so a sink can tell a re-send from a send made before a retry was seen.
    std::uint64_t epoch = 0;
    std::size_t worker = 0;  // the transform worker of this partition
  };

  void process(std::vector<source::Record>& batch);
  void handle_record(source::Record record);
  // Transforms `p`: on its partition's worker (the result comes back through
  // collect_transforms), or here without workers. Returns true when the outputs are ready to
  // send now.
  [[nodiscard]] bool run_transform(Pending& p);
  [[nodiscard]] bool finish_transform(Pending& p, TransformJob& job);
  void collect_transforms();
  void block(Partition& part, std::chrono::milliseconds at_least);
  void stop_fatal(std::string code, std::string message);
  void note_retry(std::string_view reason);
  void log_retry_summary(Clock::time_point now);
  // Records of a partition not yet settled, and the offset they are redelivered from (the
  // commit position, else the first of them).
  struct Unsettled {
    std::size_t count = 0;
    std::int64_t redeliver_from = 0;
  };
  [[nodiscard]] Unsettled unsettled(const Partition& part) const;
  void report_unsettled();
  void send_outputs(Pending& p);
  void collect_verdicts(std::chrono::milliseconds wait);
  void on_outcome(const sink::Outcome& outcome);
  void on_dead_letter_result(const deadletter::WriteResult& result);
  void dead_letter(Pending& p, std::string reason, std::string message);
  void write_dead_letter(Pending& p);
  void maybe_settle(Pending& p);
  void settle(Pending& p, Settled how);
  void flush_sends();
  void resend_due(Clock::time_point now);
  void count_bytes(Pending& p, std::int64_t delta);  // Pending::bytes, its partition's, the total
  [[nodiscard]] bool wants_pause(const Partition& part) const;
  void apply_backpressure();
  void set_paused(Partition& part, bool paused);
  void store_positions();
  void publish_gauges();
  void release_free_memory();
  [[nodiscard]] Partition* find_partition(std::string_view topic, std::int32_t partition);
  [[nodiscard]] std::chrono::milliseconds backoff(int attempt) const;

  Dependencies deps_;
  config::PipelineConfig cfg_;
  transforms::Stage stage_;             // without workers
  std::unique_ptr<Workers> workers_;    // null: transforms run on the pipeline thread
  std::vector<int> worker_partitions_;  // partitions per worker (a new one goes to the fewest)
  std::size_t transforms_out_ = 0;      // jobs on workers
  std::vector<TransformJob*> transforms_done_;
  // Jobs are lent to a record only while it is transformed: a job per in-flight record made
  // every pending record ~200 bytes larger (+5-9 MiB peak RSS at 100,000 records in flight).
  std::vector<std::unique_ptr<TransformJob>> free_jobs_;
  [[nodiscard]] TransformJob* lend_job(Pending& p);
  void return_job(TransformJob* job);

  std::map<source::TopicPartition, std::unique_ptr<Partition>, std::less<>> partitions_;
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t next_epoch_ = 1;
  std::vector<sink::Message> send_batch_;
  std::vector<sink::Outcome> outcomes_;
  std::vector<deadletter::WriteResult> dl_results_;
  std::vector<std::pair<Clock::time_point, std::uint64_t>> dl_retry_;  // dead letters to rewrite
  std::vector<source::Record> poll_batch_;
  std::vector<std::uint64_t> resend_seqs_;
  bool backpressure_ = false;
  bool shutting_down_ = false;
  std::uint64_t dead_letters_outstanding_ = 0;
  std::optional<core::Error> fatal_;
  // Retries are summed up in one log line per interval instead of one line each.
  std::map<std::string, std::uint64_t, std::less<>> retry_counts_;
  Clock::time_point retry_log_at_{};

  Stats stats_;
  std::function<void(const Stats&)> tick_;
  SettledHook settled_hook_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<std::int64_t> last_turn_ns_{0};
  std::atomic<int> assigned_{0};
  std::atomic<int> dead_letters_waiting_{0};  // letters waiting to be rewritten: not ready
};

}  // namespace bridge::pipeline

#pragma once
// The outbound side. The pipeline hands a sink messages and later collects one final verdict per
// message. Sinks: `file`/`stdout` (NDJSON), `kafka` (outbound topic); the Platform streaming sink
// implements the same interface.
//
// Contract:
// - send() and poll() are called only from the pipeline thread; a sink may use threads inside.
// - Bodies are valid only during send(): a sink copies what it keeps.
// - Every sent message gets exactly one Outcome, eventually (flush() bounds "eventually").
// - Order per ordering key: messages of one source partition arrive in offset order, each with an
//   ordering key (the customer the transform resolved, else the record key; empty: the whole
//   partition is one key). When a sink answers `retry` for a message, it answers `retry` for
//   every later message of that partition it still holds, and for every later message of the
//   same ordering key that it sent alongside (even if the destination took it), so the
//   pipeline's re-send, in offset order after a backoff, puts the last copy of each message of a
//   key in order. Sinks that retry internally (Kafka producer) keep order themselves.
// - release(): the pipeline gives partitions up (rebalance, shutdown); the sink stops sending
//   them before the pipeline commits.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "transforms/api/transform.h"

namespace bridge::sink {

struct Message {
  std::uint64_t ticket = 0;  // opaque to the sink; returned in the Outcome
  transforms::OutputKind kind = transforms::OutputKind::raw;
  const transforms::Target* target = nullptr;  // never null; lives as long as the process
  std::string_view key;                        // source record key (may be empty)
  std::string_view body;                       // JSON document
  std::string_view source_topic;
  std::int32_t source_partition = 0;
  std::int64_t source_offset = 0;
  // Changes whenever the pipeline starts sending a partition afresh: at assignment and at each
  // re-send after a retry. Messages of one partition with the same epoch were sent in one run,
  // so a sink that answered `retry` can refuse the rest of that run and know a re-send by its
  // newer epoch.
  std::uint64_t epoch = 0;
  // The ordering key (see the contract above); empty means the source partition.
  std::string_view order_key;
};

struct PartitionRef {
  std::string_view topic;
  std::int32_t partition = 0;
};

enum class Verdict : std::uint8_t {
  delivered,  // the destination has it durably
  retry,      // not delivered; the pipeline re-sends it after a backoff
  rejected,   // can never be delivered; the pipeline dead-letters the source record
};

std::string_view to_string(Verdict verdict);

struct Outcome {
  std::uint64_t ticket = 0;
  Verdict verdict = Verdict::delivered;
  std::string reason;   // machine-readable code for rejected/retry, e.g. "sink-rejected"
  std::string message;  // human text (the destination's message); no personal data
  // retry: the destination asked not to be called again before this (Retry-After); the
  // pipeline's backoff is at least this long.
  std::chrono::milliseconds retry_after{0};
};

class Sink {
 public:
  virtual ~Sink() = default;
  [[nodiscard]] virtual std::string_view name() const = 0;
  virtual void send(std::span<const Message> messages) = 0;
  // Appends verdicts that became final; waits at most `wait` when none are ready.
  virtual void poll(std::vector<Outcome>& out, std::chrono::milliseconds wait) = 0;
  // Waits until every sent message has a verdict (collected by later poll() calls) or the
  // deadline passes. Returns false on timeout.
  [[nodiscard]] virtual bool flush(std::chrono::milliseconds deadline) = 0;
  // Whether the destination looks reachable (feeds /readyz).
  [[nodiscard]] virtual bool ready() const = 0;
  // The pipeline no longer owns these partitions. Messages of theirs not yet sent are dropped
  // (no outcome is owed for them); requests already in flight that carry them are waited for,
  // at most until `deadline`. Returns false when some were still in flight then. Outcomes for
  // released messages may still be reported; the pipeline ignores them.
  [[nodiscard]] virtual bool release(std::span<const PartitionRef> partitions,
                                     std::chrono::milliseconds deadline) = 0;
  // Bytes the sink holds for messages it has not answered (copies, request bodies): counted
  // against the pipeline's in-flight cap. Thread-safe.
  [[nodiscard]] virtual std::int64_t held_bytes() const { return 0; }
};

}  // namespace bridge::sink

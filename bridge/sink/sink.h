#pragma once
// The outbound side. The pipeline hands a sink messages and later collects one final verdict per
// message. Sinks: `file`/`stdout` (NDJSON), `kafka` (outbound topic); the Platform streaming sink
// implements the same interface.
//
// Contract:
// - send() and poll() are called only from the pipeline thread; a sink may use threads inside.
// - Bodies are valid only during send(): a sink copies what it keeps.
// - Every sent message gets exactly one Outcome, eventually (flush() bounds "eventually").
// - Per-partition order: messages of one source partition arrive in offset order, and a sink
//   delivers them in that order: it never delivers a message while an earlier message of the
//   same source partition is undelivered. When it answers `retry` for a message, every later
//   message of that partition it holds is answered `retry` too; the pipeline re-sends them all,
//   in order, after a backoff. Sinks that retry internally (Kafka producer) keep order themselves.

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
};

}  // namespace bridge::sink

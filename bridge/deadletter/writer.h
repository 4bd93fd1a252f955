#pragma once
// Dead letters: a record that cannot be delivered (bad input, no route, transform reject, sink
// reject) is written to the dead-letter topic with its original key, value and headers, plus
// headers saying why. The record's offset settles only once the dead letter is durably written;
// a failed write is retried by the pipeline, which keeps the partition blocked meanwhile.
//
// Header names written next to the original headers:
//   capillary-bridge.reason        machine-readable code (malformed-json, envelope, unmapped, ...)
//   capillary-bridge.message       human text, never personal data
//   capillary-bridge.source        topic/partition/offset, e.g. "capillary.events/3/1234"
//   capillary-bridge.version       the bridge version
//   capillary-bridge.event         the Capillary event name when known
//
// A letter that `redrive` sent through the routes again and that failed again is written anew
// (bridge/redrive): its original headers, capillary-bridge.source still naming where the event
// first came from, the new reason and message, and:
//   capillary-bridge.attempts      times dead-lettered, this letter included (absent: 1)
//   capillary-bridge.redriven-from the letter it was redriven from: "dlq-topic/partition/offset"
//
// A reduced letter (the topic refused the full one for good, or it cannot fit the topic's
// max.message.bytes) keeps those headers, and the original headers when they fit, and adds:
//   capillary-bridge.truncated        "true"; the value is the payload's first bytes only
//   capillary-bridge.original-bytes   the payload's length
//   capillary-bridge.original-sha256  the payload's SHA-256, hex

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "bridge/core/record.h"

namespace bridge::deadletter {

inline constexpr std::string_view kReasonHeader = "capillary-bridge.reason";
inline constexpr std::string_view kMessageHeader = "capillary-bridge.message";
inline constexpr std::string_view kSourceHeader = "capillary-bridge.source";
inline constexpr std::string_view kVersionHeader = "capillary-bridge.version";
inline constexpr std::string_view kEventHeader = "capillary-bridge.event";
inline constexpr std::string_view kAttemptsHeader = "capillary-bridge.attempts";
inline constexpr std::string_view kRedrivenFromHeader = "capillary-bridge.redriven-from";
inline constexpr std::string_view kTruncatedHeader = "capillary-bridge.truncated";
inline constexpr std::string_view kOriginalBytesHeader = "capillary-bridge.original-bytes";
inline constexpr std::string_view kOriginalSha256Header = "capillary-bridge.original-sha256";

struct Letter {
  std::uint64_t ticket = 0;  // returned in the WriteResult
  const core::RecordView* record = nullptr;
  std::string_view reason;
  std::string_view message;
  std::string_view event_name;  // may be empty
  bool reduce = false;          // write a reduced letter (the full one was refused for good)
};

struct WriteResult {
  std::uint64_t ticket = 0;
  bool written = false;
  // Failed for a reason that retrying the same letter cannot cure (too large for the topic, not
  // authorized, topic gone): the pipeline then asks for a reduced letter, and stops the process
  // if even that is refused.
  bool permanent = false;
  bool reduced = false;  // what was written (or tried) was a reduced letter
  std::string error;     // why the write failed (broker error text)
};

// Threading: pipeline thread only. write() copies what it needs and never waits.
class Writer {
 public:
  virtual ~Writer() = default;
  // Where letters go, for messages and logs.
  [[nodiscard]] virtual std::string_view topic() const { return {}; }
  virtual void write(const Letter& letter) = 0;
  virtual void poll(std::vector<WriteResult>& out, std::chrono::milliseconds wait) = 0;
  [[nodiscard]] virtual bool flush(std::chrono::milliseconds deadline) = 0;
};

}  // namespace bridge::deadletter

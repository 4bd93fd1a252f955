#pragma once
// What a Platform answer means for the records it covers. Every HTTP status and transport
// outcome is decided by the two tables in classify.cc (request level and per-message level) and
// nowhere else; reference/platform-streaming.md sections 1.9 and 6.5-6.6 are the source.
// Unknown answers are retried, never dropped: records carry a deterministic `_id`, so a resend
// is harmless, while a drop is silent data loss.

#include <cstdint>
#include <span>
#include <string_view>

namespace bridge::platform {

enum class Action : std::uint8_t {
  accept,  // delivered
  reject,  // never retried: dead-letter with Platform's message
  retry,   // retry after backoff (honouring Retry-After)
  split,   // 413: split the request and resend the halves (a single message: reject)
  reauth,  // 401/403: refresh the token once and retry once; if it happens again: retry
           // (partition pauses), never drop
};

struct Classification {
  Action action;
  // Machine-readable dead-letter/retry reason code, e.g. "platform-rejected". Points into static
  // storage: valid for the life of the program.
  std::string_view reason;
};

// The worker maps CURLcode to this (transport.h's tls_failure() decides `tls`).
enum class Transport : std::uint8_t { ok, timeout, connection, tls };

// Whole-request outcome: transport failure or HTTP status of the batch request. A 207 is
// `accept` here; its responses[] elements then go through classify_message one by one.
[[nodiscard]] Classification classify_request(Transport transport, int http_status);

// One element of a 207's responses[]: status from `statusCode` or `status` (0 when neither),
// and whether it has an xactionId.
[[nodiscard]] Classification classify_message(int status, bool has_xaction_id);

// One row of a table: statuses in [status_from, status_to] map to {action, reason}. Rows are
// matched in order, first match wins, so single codes come before the range that contains them.
struct Rule {
  int status_from;
  int status_to;
  Action action;
  std::string_view reason;
  std::string_view why;
};

// The tables themselves, for docs and tests. The last row of each covers every int.
[[nodiscard]] std::span<const Rule> request_rules();
// Per-message rows for elements that carry a status (status 0 is decided by xactionId).
[[nodiscard]] std::span<const Rule> message_rules();

[[nodiscard]] std::string_view to_string(Action action);

}  // namespace bridge::platform

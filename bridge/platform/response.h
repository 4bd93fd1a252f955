#pragma once
// Reading Platform's response bodies: the batch endpoint's 207 and the error bodies of Platform
// and IMS (reference/platform-streaming.md section 1.8). Bodies come from the network: every
// shape is tolerated, nothing throws, and no text taken from them grows without bound.

#include <cstddef>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

namespace bridge::platform {

// Longest text kept from a body; dead-letter headers and log lines carry it.
inline constexpr std::size_t kMaxMessageBytes = 512;

struct MessageResult {
  // From "statusCode" or "status" (a number, or a numeric string like "400"); 0 when neither is
  // present; -1 when present but not an integer status (classified as unexpected: retried).
  int status = 0;
  bool has_xaction_id = false;  // "xactionId" present and not null
  std::string message;          // "message", at most kMaxMessageBytes, control characters -> ' '
};

struct BatchResponse {
  // One element per responses[] element, in order: correlate with the request by position. May
  // be shorter or longer than the request; the caller decides what a missing element means.
  std::vector<MessageResult> responses;
  std::string batch_id;  // "batchId", for support tickets; "" when absent
};

// A 207 body. Error text when the body is not a JSON object with a "responses" array.
[[nodiscard]] tl::expected<BatchResponse, std::string> parse_batch_response(std::string_view body);

// Human text from a non-2xx Platform/IMS body for dead-letter messages and logs: report.message,
// else message, else title, else detail, else error_description, else error (the first that is a
// non-empty string); at most kMaxMessageBytes, control characters -> ' '; "" when none or when
// the body is not a JSON object (HTML from a proxy, empty, truncated).
[[nodiscard]] std::string error_message(std::string_view body);

}  // namespace bridge::platform

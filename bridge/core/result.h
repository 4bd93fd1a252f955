#pragma once
// Result type for the data path (poll -> transform -> send -> store offset): no exceptions there.
// The error kind tells the caller what to do next.

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace bridge::core {

enum class ErrorKind {
  retry,      // transient: try the same thing again later (network, broker, 429/5xx)
  reject,     // this record can never succeed: dead-letter it and move on
  permanent,  // this operation will never succeed (bad request, bad config value at runtime)
  fatal,      // the process cannot continue safely
};

struct Error {
  ErrorKind kind = ErrorKind::permanent;
  // Machine-readable reason code, e.g. "not-json", "envelope", "unmapped", "sink-rejected".
  std::string code;
  // Human-readable message. Never contains personal data or secrets.
  std::string message;
};

template <typename T>
using Result = tl::expected<T, Error>;

[[nodiscard]] inline tl::unexpected<Error> fail(ErrorKind kind, std::string code,
                                                std::string message) {
  return tl::unexpected<Error>(Error{kind, std::move(code), std::move(message)});
}

[[nodiscard]] inline tl::unexpected<Error> reject(std::string code, std::string message) {
  return fail(ErrorKind::reject, std::move(code), std::move(message));
}

}  // namespace bridge::core

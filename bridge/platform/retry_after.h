#pragma once
// The Retry-After header (RFC 9110 section 10.2.3) Platform may send with 429 and 503.

#include <chrono>
#include <optional>
#include <string_view>

namespace bridge::platform {

// Retry-After: delta-seconds ("120", also fractional "1.5" tolerated, rounded up to the next
// millisecond) or an HTTP-date (IMF-fixdate, plus RFC 850 and asctime forms, read by libcurl's
// lenient curl_getdate). nullopt when empty or unparseable, including negative numbers, so the
// caller falls back to its own backoff. A date in the past gives 0. The result is clamped to
// `cap`, so a hostile or mistaken header cannot stall a partition for days.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now,
    std::chrono::milliseconds cap);

}  // namespace bridge::platform

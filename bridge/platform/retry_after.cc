#include "bridge/platform/retry_after.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <string>
#include <system_error>

#include "transforms/api/values.h"

namespace bridge::platform {
namespace {

using std::chrono::milliseconds;

using transforms::values::is_digit;
using transforms::values::trim;

// The answer for any delay at or beyond the cap (a negative cap means "do not wait").
milliseconds saturated(milliseconds cap) {
  return std::max(milliseconds{0}, cap);
}

// Digits with at most one '.', at least one digit. No sign, exponent, "inf" or "nan": those are
// not delta-seconds, and from_chars alone would accept some of them.
bool is_decimal(std::string_view s) {
  bool digit = false;
  bool dot = false;
  for (char c : s) {
    if (is_digit(c)) {
      digit = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      return false;
    }
  }
  return digit;
}

std::optional<milliseconds> parse_seconds(std::string_view s, milliseconds cap) {
  if (!is_decimal(s)) {
    return std::nullopt;
  }
  double seconds = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), seconds);
  if (ec == std::errc::result_out_of_range) {
    return saturated(cap);  // more digits than a double holds: certainly over the cap
  }
  if (ec != std::errc{} || end != s.data() + s.size()) {
    return std::nullopt;
  }
  // Compare in double before converting, so a huge value cannot overflow the integer cast.
  const double ms = std::ceil(seconds * 1000.0);
  if (ms >= static_cast<double>(cap.count())) {
    return saturated(cap);
  }
  return milliseconds{static_cast<milliseconds::rep>(ms)};
}

std::optional<milliseconds> parse_date(std::string_view s,
                                       std::chrono::system_clock::time_point now,
                                       milliseconds cap) {
  const std::string text(s);  // curl_getdate wants a NUL-terminated string
  const std::time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == -1) {
    return std::nullopt;
  }
  // Work in seconds first: time_t may reach far beyond what milliseconds can hold.
  const auto now_s = std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count();
  const std::int64_t when_s = when;
  if (when_s <= now_s) {
    return milliseconds{0};
  }
  const std::int64_t cap_s = std::chrono::ceil<std::chrono::seconds>(cap).count();
  if (when_s - now_s > cap_s) {
    return saturated(cap);
  }
  const auto delay = std::chrono::sys_seconds{std::chrono::seconds{when_s}} - now;
  return std::min(std::chrono::ceil<milliseconds>(delay), cap);
}

}  // namespace

std::optional<milliseconds> parse_retry_after(std::string_view value,
                                              std::chrono::system_clock::time_point now,
                                              milliseconds cap) {
  const std::string_view s = trim(value);
  if (s.empty()) {
    return std::nullopt;
  }
  // Every HTTP-date form starts with a day name; anything starting like a number is
  // delta-seconds or garbage.
  const char first = s.front();
  if (is_digit(first) || first == '.' || first == '-' || first == '+') {
    return parse_seconds(s, cap);
  }
  return parse_date(s, now, cap);
}

}  // namespace bridge::platform

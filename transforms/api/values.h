#pragma once
// Lenient readers for the scalar values Capillary payloads carry (reference/capillary-events.md
// sections 10.3 and 10.4), shared by the envelope reader and the transforms. Pure functions over
// string views: no allocation, no locale, never throw.

#include <cstdint>
#include <optional>
#include <string_view>

namespace transforms::values {

// Below this magnitude an epoch value is in seconds, not milliseconds (reference section 10.4).
inline constexpr std::int64_t kSecondsThreshold = 100'000'000'000;

[[nodiscard]] constexpr bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
[[nodiscard]] constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
// Inline: every key of every walk goes through trim(), and keys are rarely padded.
[[nodiscard]] constexpr std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}
[[nodiscard]] constexpr std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) {
    s.remove_prefix(1);
  }
  return trim_right(s);
}
// ASCII case-insensitive equality (event values such as `LOYALTY`/`loyalty`, `Deleted`).
[[nodiscard]] bool iequals(std::string_view a, std::string_view b);

// RFC 8259 number grammar (no leading `+`, no leading zeros, no bare `.5`).
[[nodiscard]] bool is_json_number(std::string_view s);
[[nodiscard]] bool has_fraction_or_exponent(std::string_view number);
// A JSON number (or any from_chars-parsable decimal) as a finite double.
[[nodiscard]] std::optional<double> to_double(std::string_view number);
// A valid JSON number as an exact int64 (`50952.0` is accepted, `1.5` is not).
[[nodiscard]] std::optional<std::int64_t> to_integer(std::string_view number);

// A point in time and the UTC offset it was written with (0 for epoch numbers and `Z`).
struct Instant {
  std::int64_t epoch_ms = 0;
  int offset_minutes = 0;
  bool utc = true;  // written as epoch or with `Z`: format with `Z`
};

// Epoch milliseconds from a valid JSON number in ms or s (scientific notation allowed).
[[nodiscard]] std::optional<std::int64_t> epoch_ms_from_number(std::string_view number);
// ISO-8601 date-time with `Z` or a numeric offset (`+05:30`, `+0530`, `+05`), `T` or space
// between date and time, optional seconds and fraction. No offset → nullopt (ambiguous).
[[nodiscard]] std::optional<Instant> parse_iso_instant(std::string_view s);
// A number (epoch ms or s) or a numeric string or an ISO date-time with offset.
[[nodiscard]] std::optional<std::int64_t> epoch_ms_from_text(std::string_view text);

struct Date {
  int year = 0;
  unsigned month = 0;
  unsigned day = 0;
};
// `YYYY-MM-DD`, calendar-checked.
[[nodiscard]] std::optional<Date> parse_date(std::string_view s);

// `+05:30` / `-0800` / `Z` / `UTC` → minutes east of UTC; nullopt when not an offset.
[[nodiscard]] std::optional<int> parse_utc_offset(std::string_view s);

// RFC 3339 writers. Each returns the number of characters written into `out`, which must hold
// at least kMaxTimeText characters, or 0 when the year falls outside 0000-9999.
inline constexpr std::size_t kMaxTimeText = 32;
// Every time is written in UTC with milliseconds, whatever offset the input carried
// (reference/xdm-mapping.md §7.7): `2024-07-01T07:47:24.783Z`.
std::size_t format_instant(const Instant& t, char* out);
std::size_t format_utc_ms(std::int64_t epoch_ms, char* out);
// The end of that day (23:59:59) at the given offset, in UTC: 2025-07-01 at +05:30 →
// `2025-07-01T18:29:59.000Z`.
std::size_t format_end_of_day(const Date& d, int offset_minutes, char* out);

}  // namespace transforms::values

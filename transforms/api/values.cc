#include "transforms/api/values.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <system_error>

namespace transforms::values {

bool iequals(std::string_view a, std::string_view b) {
  const auto lower = [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

// RFC 8259 number grammar. simdjson's own number parsers reject valid JSON beyond 64-bit range,
// which must not turn an otherwise fine record into `malformed-json`.
bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < n && is_digit(s[i])) {
      ++i;
    }
    return i > start;
  };
  if (i < n && s[i] == '-') {
    ++i;
  }
  if (i < n && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (!digits()) {
      return false;
    }
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
      ++i;
    }
    if (!digits()) {
      return false;
    }
  }
  return i == n;
}

bool has_fraction_or_exponent(std::string_view number) {
  return number.find_first_of(".eE") != std::string_view::npos;
}

std::optional<double> to_double(std::string_view number) {
  double d = 0;
  const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), d);
  if (ec != std::errc{} || ptr != number.data() + number.size() || !std::isfinite(d)) {
    return std::nullopt;
  }
  return d;
}

// A valid JSON number as an exact int64 (`50952.0` is accepted, `1.5` is not).
std::optional<std::int64_t> to_integer(std::string_view number) {
  if (!has_fraction_or_exponent(number)) {
    std::int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
    if (ec != std::errc{} || ptr != number.data() + number.size()) {
      return std::nullopt;
    }
    return v;
  }
  const auto d = to_double(number);
  if (!d || *d != std::floor(*d) || std::fabs(*d) >= 9.0e18) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(*d);
}

// Epoch milliseconds from a valid JSON number in ms or s (scientific notation allowed).
std::optional<std::int64_t> epoch_ms_from_number(std::string_view number) {
  if (!has_fraction_or_exponent(number)) {
    const auto v = to_integer(number);
    if (!v || *v <= 0) {
      return std::nullopt;
    }
    return *v < kSecondsThreshold ? *v * 1000 : *v;
  }
  auto d = to_double(number);
  if (!d || *d <= 0) {
    return std::nullopt;
  }
  if (*d < static_cast<double>(kSecondsThreshold)) {
    *d *= 1000;
  }
  if (*d >= 9.0e18) {
    return std::nullopt;
  }
  const std::int64_t ms = std::llround(*d);
  if (ms <= 0) {
    return std::nullopt;  // 5e-9 and the like: positive, but no time at all
  }
  return ms;
}

// ISO-8601 date-time with a `Z` or numeric offset: `2024-07-01T13:40:26.172+0000`,
// `2026-01-23T03:30:00Z`, `2024-07-01 19:10:26+05:30`. Seconds and fraction are optional.
std::optional<Instant> parse_iso_instant(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  const auto fixed = [&](std::size_t count, int& out) {
    if (n - i < count) {
      return false;
    }
    out = 0;
    for (std::size_t k = 0; k < count; ++k, ++i) {
      if (!is_digit(s[i])) {
        return false;
      }
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  const auto expect = [&](char c) {
    if (i < n && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int millis = 0;
  if (!fixed(4, year) || !expect('-') || !fixed(2, month) || !expect('-') || !fixed(2, day)) {
    return std::nullopt;
  }
  if (!expect('T') && !expect('t') && !expect(' ')) {
    return std::nullopt;
  }
  if (!fixed(2, hour) || !expect(':') || !fixed(2, minute)) {
    return std::nullopt;
  }
  if (expect(':')) {
    if (!fixed(2, second)) {
      return std::nullopt;
    }
    if (expect('.') || expect(',')) {
      const std::size_t start = i;
      int scale = 100;
      for (; i < n && is_digit(s[i]); ++i) {
        millis += (s[i] - '0') * scale;
        scale /= 10;
      }
      if (i == start) {
        return std::nullopt;
      }
    }
  }
  int offset_minutes = 0;
  bool utc = false;
  if (expect('Z') || expect('z')) {
    utc = true;
  } else if (i < n && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i] == '-' ? -1 : 1;
    ++i;
    int off_hours = 0;
    int off_minutes = 0;
    if (!fixed(2, off_hours)) {
      return std::nullopt;
    }
    if (i < n) {
      expect(':');
      if (!fixed(2, off_minutes)) {
        return std::nullopt;
      }
    }
    if (off_hours > 23 || off_minutes > 59) {
      return std::nullopt;
    }
    offset_minutes = sign * (off_hours * 60 + off_minutes);
  } else {
    return std::nullopt;  // no offset: server or org time zone is anybody's guess
  }
  if (i != n || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  const std::int64_t seconds = days * 86'400 + std::int64_t{hour} * 3'600 +
                               std::int64_t{minute} * 60 + second -
                               std::int64_t{offset_minutes} * 60;
  return Instant{seconds * 1000 + millis, offset_minutes, utc};
}

std::optional<std::int64_t> epoch_ms_from_text(std::string_view text) {
  text = trim(text);
  if (is_json_number(text)) {
    return epoch_ms_from_number(text);
  }
  const auto instant = parse_iso_instant(text);
  if (!instant) {
    return std::nullopt;
  }
  return instant->epoch_ms;
}

std::optional<Date> parse_date(std::string_view s) {
  s = trim(s);
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') {
    return std::nullopt;
  }
  int parts[3] = {0, 0, 0};
  const std::size_t starts[3] = {0, 5, 8};
  const std::size_t lengths[3] = {4, 2, 2};
  for (std::size_t p = 0; p < 3; ++p) {
    for (std::size_t k = 0; k < lengths[p]; ++k) {
      const char c = s[starts[p] + k];
      if (!is_digit(c)) {
        return std::nullopt;
      }
      parts[p] = parts[p] * 10 + (c - '0');
    }
  }
  const Date d{parts[0], static_cast<unsigned>(parts[1]), static_cast<unsigned>(parts[2])};
  const std::chrono::year_month_day ymd{std::chrono::year{d.year}, std::chrono::month{d.month},
                                        std::chrono::day{d.day}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  return d;
}

std::optional<int> parse_utc_offset(std::string_view s) {
  s = trim(s);
  if (s == "Z" || s == "z" || s == "UTC" || s == "utc") {
    return 0;
  }
  if (s.empty() || (s[0] != '+' && s[0] != '-')) {
    return std::nullopt;
  }
  const int sign = s[0] == '-' ? -1 : 1;
  s.remove_prefix(1);
  std::string_view hh = s.substr(0, 2);
  std::string_view mm;
  if (s.size() == 5 && s[2] == ':') {
    mm = s.substr(3, 2);
  } else if (s.size() == 4) {
    mm = s.substr(2, 2);
  } else if (s.size() != 2) {
    return std::nullopt;
  }
  const auto two = [](std::string_view t) -> int {
    if (t.size() != 2 || !is_digit(t[0]) || !is_digit(t[1])) {
      return -1;
    }
    return (t[0] - '0') * 10 + (t[1] - '0');
  };
  const int h = two(hh);
  const int m = mm.empty() ? 0 : two(mm);
  if (h < 0 || h > 23 || m < 0 || m > 59) {
    return std::nullopt;
  }
  return sign * (h * 60 + m);
}

namespace {

// Writes `value` as exactly `width` digits.
char* put_digits(char* out, std::int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + width;
}

// 0 when the year is outside 0000-9999 (RFC 3339 has four year digits).
// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
std::size_t put_utc(std::int64_t local_ms, char* out) {
  // 0000-01-01T00:00:00.000 .. 9999-12-31T23:59:59.999 (also keeps the arithmetic below far
  // from int64 overflow).
  if (local_ms < -62'167'219'200'000 || local_ms > 253'402'300'799'999) {
    return 0;
  }
  const std::int64_t days = (local_ms >= 0 ? local_ms : local_ms - 86'399'999) / 86'400'000;
  if (days < -800'000 || days > 3'000'000) {  // far outside years 0000-9999
    return 0;
  }
  const std::int64_t ms_of_day = local_ms - days * 86'400'000;
  const std::chrono::year_month_day ymd{
      std::chrono::sys_days{std::chrono::days{static_cast<int>(days)}}};
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {
    return 0;
  }
  char* p = out;
  p = put_digits(p, year, 4);
  *p++ = '-';
  p = put_digits(p, static_cast<unsigned>(ymd.month()), 2);
  *p++ = '-';
  p = put_digits(p, static_cast<unsigned>(ymd.day()), 2);
  *p++ = 'T';
  p = put_digits(p, ms_of_day / 3'600'000, 2);
  *p++ = ':';
  p = put_digits(p, ms_of_day / 60'000 % 60, 2);
  *p++ = ':';
  p = put_digits(p, ms_of_day / 1000 % 60, 2);
  *p++ = '.';
  p = put_digits(p, ms_of_day % 1000, 3);
  *p++ = 'Z';
  return static_cast<std::size_t>(p - out);
}

}  // namespace

std::size_t format_instant(const Instant& t, char* out) {
  // UTC whatever offset the input carried (reference/xdm-mapping.md §7.7).
  return format_utc_ms(t.epoch_ms, out);
}

std::size_t format_utc_ms(std::int64_t epoch_ms, char* out) {
  return put_utc(epoch_ms, out);
}

std::size_t format_end_of_day(const Date& d, int offset_minutes, char* out) {
  const std::chrono::year_month_day ymd{std::chrono::year{d.year}, std::chrono::month{d.month},
                                        std::chrono::day{d.day}};
  const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  // 23:59:59 there, as the instant in UTC.
  const std::int64_t local_ms = days * 86'400'000 + 86'399'000;
  return put_utc(local_ms - std::int64_t{offset_minutes} * 60'000, out);
}

}  // namespace transforms::values

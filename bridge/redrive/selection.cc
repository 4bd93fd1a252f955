#include "bridge/redrive/selection.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include "bridge/deadletter/writer.h"

namespace bridge::redrive {
namespace {

constexpr std::string_view kPrefix = "capillary-bridge.";

// Digits at s[pos, pos + n) as a number; nullopt when any is not a digit.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) {
    return std::nullopt;
  }
  int value = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return std::nullopt;
    }
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

core::Error bad_time(std::string_view text) {
  return core::Error{core::ErrorKind::permanent, "bad-time",
                     fmt::format("'{}' is not a time: use RFC 3339 (2026-12-04T10:00:00Z), a date "
                                 "(2026-12-04) or an age (90s, 30m, 2h, 7d)",
                                 text)};
}

}  // namespace

core::Result<std::int64_t> parse_time(std::string_view text,
                                      std::chrono::system_clock::time_point now) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  const std::int64_t now_ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  // An age: digits and one unit.
  if (!text.empty() && std::string_view("smhd").find(text.back()) != std::string_view::npos) {
    std::int64_t n = 0;
    const auto* end = text.data() + text.size() - 1;
    const auto [ptr, ec] = std::from_chars(text.data(), end, n);
    if (ec == std::errc() && ptr == end && n >= 0 && n < 100000000) {
      const std::int64_t unit = text.back() == 's'   ? 1000
                                : text.back() == 'm' ? 60'000
                                : text.back() == 'h' ? 3'600'000
                                                     : 86'400'000;
      return now_ms - n * unit;
    }
    return tl::unexpected(bad_time(text));
  }
  const auto year = digits(text, 0, 4);
  const auto month = digits(text, 5, 2);
  const auto day = digits(text, 8, 2);
  if (!year || !month || !day || text[4] != '-' || text[7] != '-' || *month < 1 || *month > 12 ||
      *day < 1 || *day > 31) {
    return tl::unexpected(bad_time(text));
  }
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  std::int64_t millis = 0;
  std::int64_t offset_s = 0;
  if (text.size() > 10) {
    const auto hour = digits(text, 11, 2);
    const auto minute = digits(text, 14, 2);
    const auto second = digits(text, 17, 2);
    if ((text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !hour || !minute || !second ||
        text[13] != ':' || text[16] != ':' || *hour > 23 || *minute > 59 || *second > 60) {
      return tl::unexpected(bad_time(text));
    }
    tm.tm_hour = *hour;
    tm.tm_min = *minute;
    tm.tm_sec = *second;
    std::size_t pos = 19;
    if (pos < text.size() && text[pos] == '.') {
      std::size_t n = 0;
      std::int64_t scale = 100;
      while (++pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        millis += (text[pos] - '0') * scale;
        scale /= 10;
        ++n;
      }
      if (n == 0) {
        return tl::unexpected(bad_time(text));
      }
    }
    const std::string_view zone = text.substr(std::min(pos, text.size()));
    if (zone == "Z" || zone == "z") {
      offset_s = 0;
    } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
               digits(zone, 1, 2) && digits(zone, 4, 2)) {
      offset_s =
          (*digits(zone, 1, 2) * 3600 + *digits(zone, 4, 2) * 60) * (zone[0] == '-' ? -1 : 1);
    } else {
      return tl::unexpected(bad_time(text));
    }
  }
  const std::time_t seconds = timegm(&tm);
  if (seconds == static_cast<std::time_t>(-1) || tm.tm_mday != *day) {
    return tl::unexpected(bad_time(text));  // 2026-02-31 and the like
  }
  return (static_cast<std::int64_t>(seconds) - offset_s) * 1000 + millis;
}

bool is_bridge_header(std::string_view name) {
  return name.starts_with(kPrefix);
}

LetterHeaders read_headers(std::span<const core::Header> headers) {
  LetterHeaders out;
  for (const auto& h : headers) {
    if (h.name == deadletter::kReasonHeader) {
      out.reason = h.value;
    } else if (h.name == deadletter::kSourceHeader) {
      out.source = h.value;
    } else if (h.name == deadletter::kTruncatedHeader) {
      out.truncated = h.value == "true";
    } else if (h.name == deadletter::kAttemptsHeader) {
      std::uint32_t n = 0;
      const auto [ptr, ec] = std::from_chars(h.value.data(), h.value.data() + h.value.size(), n);
      if (ec == std::errc() && ptr == h.value.data() + h.value.size() && n >= 1) {
        out.attempts = n;
      }
    }
  }
  // "topic/partition/offset": Kafka topic names cannot hold '/', so the topic ends at the first.
  if (const auto slash = out.source.find('/'); slash != std::string_view::npos && slash > 0) {
    out.topic = out.source.substr(0, slash);
  }
  return out;
}

Choice choose(const LetterHeaders& letter, std::int64_t timestamp_ms, const Selection& selection) {
  if (selection.until_ms && timestamp_ms > *selection.until_ms) {
    return Choice::after_until;
  }
  if (selection.since_ms && timestamp_ms < *selection.since_ms) {
    return Choice::not_selected;
  }
  if (!selection.reasons.empty() && std::find(selection.reasons.begin(), selection.reasons.end(),
                                              letter.reason) == selection.reasons.end()) {
    return Choice::not_selected;
  }
  if (letter.reason.empty() || letter.topic.empty() || letter.truncated) {
    return Choice::not_redrivable;
  }
  return Choice::redrive;
}

}  // namespace bridge::redrive

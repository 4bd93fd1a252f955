// The lenient value parsers and RFC 3339 formatters of transforms/api/values.h. The first byte
// picks a group of functions; the rest is their input. Round trips:
// - trim: idempotent, no blank at either end, a substring of its input;
// - numbers: a JSON number's double is finite when present; an integer re-reads from its own
//   decimal text; is_json_number agrees with to_double on plain text;
// - times: every instant, date and epoch that parses formats to text that parses back to the
//   same instant (and offset); the formatters never write past kMaxTimeText and answer 0
//   outside years 0000-9999, for any int64 epoch;
// - offsets: within ±23:59.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_check.h"
#include "transforms/api/values.h"

namespace {

namespace v = transforms::values;

bool within(std::string_view outer, std::string_view inner) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

// Formats into a buffer with a guard zone after kMaxTimeText; checks the guard is untouched and
// that non-empty output re-parses as an instant.
struct Formatted {
  char buf[v::kMaxTimeText + 8];
  std::size_t n = 0;
  [[nodiscard]] std::string_view text() const { return {buf, n}; }
};

void check_guard(const Formatted& f) {
  for (std::size_t i = v::kMaxTimeText; i < sizeof(f.buf); ++i) {
    FUZZ_CHECK(f.buf[i] == '#', "a formatter wrote past kMaxTimeText");
  }
  FUZZ_CHECK(f.n <= v::kMaxTimeText, "a formatter's length fits kMaxTimeText");
}

Formatted format_ms(std::int64_t ms) {
  Formatted f;
  std::memset(f.buf, '#', sizeof(f.buf));
  f.n = v::format_utc_ms(ms, f.buf);
  check_guard(f);
  return f;
}

// Epoch milliseconds of 0000-01-01T00:00:00Z and of 9999-12-31T23:59:59.999Z.
constexpr std::int64_t kMinMs = -62'167'219'200'000;
constexpr std::int64_t kMaxMs = 253'402'300'799'999;

void epoch_round_trip(std::int64_t ms) {
  const Formatted f = format_ms(ms);
  if (ms < kMinMs || ms > kMaxMs) {
    FUZZ_CHECK(f.n == 0, "epochs outside years 0000-9999 are not formatted");
    return;
  }
  FUZZ_CHECK(f.n == 24, "yyyy-mm-ddThh:mm:ss.mmmZ");
  const auto back = v::parse_iso_instant(f.text());
  FUZZ_CHECK(back && back->epoch_ms == ms && back->utc, "format_utc_ms re-parses to itself");
}

void instant_round_trip(std::string_view s) {
  const auto t = v::parse_iso_instant(s);
  if (!t) {
    return;
  }
  FUZZ_CHECK(t->offset_minutes > -24 * 60 && t->offset_minutes < 24 * 60, "offset range");
  Formatted f;
  std::memset(f.buf, '#', sizeof(f.buf));
  f.n = v::format_instant(*t, f.buf);
  check_guard(f);
  if (f.n == 0) {
    return;  // the instant's local year is outside 0000-9999
  }
  const auto back = v::parse_iso_instant(f.text());
  FUZZ_CHECK(back.has_value(), "format_instant output parses");
  FUZZ_CHECK(back->epoch_ms == t->epoch_ms, "format_instant keeps the instant");
  FUZZ_CHECK(back->utc, "format_instant writes UTC (Z)");
  FUZZ_CHECK(v::epoch_ms_from_text(s) == t->epoch_ms, "epoch_ms_from_text agrees");
}

void date_round_trip(std::string_view s, int offset_minutes) {
  const auto d = v::parse_date(s);
  if (!d) {
    return;
  }
  FUZZ_CHECK(d->year >= 0 && d->year <= 9999 && d->month >= 1 && d->month <= 12 && d->day >= 1 &&
                 d->day <= 31,
             "date fields in range");
  Formatted f;
  std::memset(f.buf, '#', sizeof(f.buf));
  f.n = v::format_end_of_day(*d, offset_minutes, f.buf);
  check_guard(f);
  if (f.n == 0) {
    // Only where the offset moves the instant out of the years 0000-9999.
    FUZZ_CHECK((d->year == 0 && offset_minutes > 0) || (d->year == 9999 && offset_minutes < 0),
               "every parsed date formats");
    return;
  }
  // 23:59:59 at the offset, written in UTC (reference/xdm-mapping.md §7.7).
  const std::chrono::year_month_day ymd{std::chrono::year{d->year}, std::chrono::month{d->month},
                                        std::chrono::day{d->day}};
  const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  const std::int64_t expected =
      days * 86'400'000 + 86'399'000 - std::int64_t{offset_minutes} * 60'000;
  const auto back = v::parse_iso_instant(f.text());
  FUZZ_CHECK(back.has_value(), "format_end_of_day output parses");
  FUZZ_CHECK(back->utc && back->epoch_ms == expected, "end of day there, as UTC");
}

void number_checks(std::string_view s) {
  const bool json = v::is_json_number(s);
  const auto d = v::to_double(s);
  if (d) {
    FUZZ_CHECK(std::isfinite(*d), "to_double is finite");
  }
  if (!json) {
    return;
  }
  FUZZ_CHECK(!s.empty() && s.front() != '+' && s.find_first_of(" \t\r\n") == std::string_view::npos,
             "JSON numbers have no blanks and no leading plus sign");
  FUZZ_CHECK(d.has_value() || v::has_fraction_or_exponent(s) || s.size() > 300,
             "a JSON number without exponent is a double");
  const auto i = v::to_integer(s);
  if (i) {
    const std::string text = std::to_string(*i);
    FUZZ_CHECK(v::is_json_number(text) && v::to_integer(text) == i, "integers re-read");
    if (!v::has_fraction_or_exponent(s) && s != "-0") {
      FUZZ_CHECK(text == s, "a plain JSON integer is its own decimal text");
    }
  }
  if (const auto ms = v::epoch_ms_from_number(s)) {
    FUZZ_CHECK(*ms > 0, "epochs are positive");
    epoch_round_trip(*ms);
  }
}

void trim_checks(std::string_view s) {
  const std::string_view t = v::trim(s);
  FUZZ_CHECK(within(s, t) || t.empty(), "trim views its input");
  FUZZ_CHECK(v::trim(t) == t, "trim is idempotent");
  FUZZ_CHECK(t.empty() || (!v::is_space(t.front()) && !v::is_space(t.back())), "trimmed ends");
  const std::string_view r = v::trim_right(s);
  FUZZ_CHECK(r.data() == s.data() && r.size() >= t.size(), "trim_right keeps the start");
}

std::int64_t read_int64(std::string_view s) {
  std::uint64_t u = 0;
  std::memcpy(&u, s.data(), std::min(s.size(), sizeof(u)));
  return static_cast<std::int64_t>(u);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view s(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      trim_checks(s);
      number_checks(s);
      number_checks(v::trim(s));
      break;
    case 1:
      instant_round_trip(s);
      if (const auto ms = v::epoch_ms_from_text(s)) {
        epoch_round_trip(*ms);
      }
      break;
    case 2: {
      // `<offset>|<date>`: the offset text, then a date.
      const std::size_t bar = s.find('|');
      const auto offset = v::parse_utc_offset(s.substr(0, bar));
      if (offset) {
        FUZZ_CHECK(*offset > -24 * 60 && *offset < 24 * 60, "offsets within ±23:59");
      }
      date_round_trip(bar == std::string_view::npos ? s : s.substr(bar + 1), offset.value_or(0));
      break;
    }
    case 3:
      epoch_round_trip(read_int64(s));
      break;
    default: {
      // Instant with an arbitrary epoch and offset (the formatter's own range checks).
      v::Instant t;
      t.epoch_ms = read_int64(s);
      t.offset_minutes = static_cast<int>(read_int64(s.size() > 8 ? s.substr(8) : "") % 1440);
      t.utc = size % 2 == 0;
      Formatted f;
      std::memset(f.buf, '#', sizeof(f.buf));
      f.n = v::format_instant(t, f.buf);
      check_guard(f);
      if (f.n > 0) {
        const auto back = v::parse_iso_instant(f.text());
        FUZZ_CHECK(back && back->epoch_ms == t.epoch_ms, "format_instant re-parses to itself");
      }
      break;
    }
  }
  return 0;
}

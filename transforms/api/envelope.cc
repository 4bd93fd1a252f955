#include "transforms/api/envelope.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace transforms {
namespace {

namespace od = simdjson::ondemand;
using bridge::core::reject;
using simdjson::error_code;

constexpr const char* kMalformed = "malformed-json";
constexpr const char* kEncoding = "encoding";
constexpr const char* kEnvelope = "envelope";

// Below this magnitude an epoch value is in seconds, not milliseconds (reference section 10.4).
constexpr std::int64_t kSecondsThreshold = 100'000'000'000;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) {
    s.remove_prefix(1);
  }
  return trim_right(s);
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
  return std::llround(*d);
}

// ISO-8601 date-time with a `Z` or numeric offset: `2024-07-01T13:40:26.172+0000`,
// `2026-01-23T03:30:00Z`, `2024-07-01 19:10:26+05:30`. Seconds and fraction are optional.
std::optional<std::int64_t> epoch_ms_from_iso(std::string_view s) {
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
  if (expect('Z') || expect('z')) {
    // UTC
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
  return seconds * 1000 + millis;
}

std::optional<std::int64_t> epoch_ms_from_text(std::string_view text) {
  text = trim(text);
  if (is_json_number(text)) {
    return epoch_ms_from_number(text);
  }
  return epoch_ms_from_iso(text);
}

// `150698_customerAdded` -> {`customerAdded`, 150698}. Names without a numeric prefix are
// returned as they are.
std::pair<std::string_view, std::optional<std::int64_t>> strip_org_prefix(std::string_view name) {
  std::size_t i = 0;
  while (i < name.size() && is_digit(name[i])) {
    ++i;
  }
  if (i == 0 || i + 1 >= name.size() || name[i] != '_') {
    return {name, std::nullopt};
  }
  return {name.substr(i + 1), to_integer(name.substr(0, i))};
}

enum class NameState : std::uint8_t { absent, present, empty, not_string };

// What one JSON object that may hold an event says about it. Reused across reads: reset()
// keeps the buffers' capacity.
struct Fields {
  bool seen = false;  // the object exists (meaningful for nested candidates)
  NameState name_state = NameState::absent;
  std::string_view event_name;
  std::string_view event_id;
  std::optional<std::int64_t> org_id;
  std::optional<std::int64_t> created_at_ms;
  std::string_view data_raw;
  bool has_event_log_id = false;
  bool has_trace_attributes = false;
  std::string_view raw;  // this object's JSON text
  // Backing store for event_name / event_id when their JSON text contains escapes.
  std::string name_buf;
  std::string id_buf;

  void reset() {
    seen = false;
    name_state = NameState::absent;
    event_name = {};
    event_id = {};
    org_id.reset();
    created_at_ms.reset();
    data_raw = {};
    has_event_log_id = false;
    has_trace_attributes = false;
    raw = {};
  }
};

struct TopFields {
  Fields event;  // the top-level object itself
  std::string_view event_type;
  std::string type_buf;
  std::optional<std::int64_t> time_stamp_ms;
  Fields attributes;  // E2
  Fields body;        // E3
  Fields data;        // E4 (and E1's `data` seen as a candidate)

  void reset() {
    event.reset();
    event_type = {};
    time_stamp_ms.reset();
    attributes.reset();
    body.reset();
    data.reset();
  }
};

// One validating pass over a document. Every value is visited so that broken JSON anywhere is
// found, and the envelope facts are collected on the way.
class Walker {
 public:
  Walker(od::document& doc, const char* scratch, std::string_view payload)
      : doc_(doc), scratch_(scratch), payload_(payload) {}

  error_code scan_top(od::object object, TopFields& top) {
    for (auto item : object) {
      od::field field;
      std::string_view key;
      if (auto e = std::move(item).get(field); e) {
        return e;
      }
      if (auto e = field.unescaped_key().get(key); e) {
        return e;
      }
      key = trim(key);
      od::value value = field.value();
      bool handled = false;
      if (auto e = common_field(key, value, top.event, handled); e || handled) {
        if (e) {
          return e;
        }
        continue;
      }
      error_code e = simdjson::SUCCESS;
      if (key == "data" || key == "attributes" || key == "body") {
        Fields& nested = key == "data" ? top.data : key == "attributes" ? top.attributes : top.body;
        od::json_type type;
        if (e = value.type().get(type); e) {
          return e;
        }
        if (type == od::json_type::object) {
          e = scan_event_object(value, nested);
          if (!e && key == "data") {
            top.event.data_raw = nested.raw;
          }
        } else if (key == "data") {
          e = capture_data(value, top.event.data_raw);
        } else {
          e = skip(value);
        }
      } else if (key == "eventType") {
        e = read_string_field(value, top.type_buf, top.event_type);
      } else if (key == "timeStamp") {
        e = read_time(value, top.time_stamp_ms);
      } else {
        e = skip(value);
      }
      if (e) {
        return e;
      }
    }
    return simdjson::SUCCESS;
  }

 private:
  // Validates `value` completely and consumes it.
  error_code skip(od::value value) {
    od::json_type type;
    if (auto e = value.type().get(type); e) {
      return e;
    }
    switch (type) {
      case od::json_type::object: {
        od::object object;
        if (auto e = value.get_object().get(object); e) {
          return e;
        }
        for (auto item : object) {
          od::field field;
          std::string_view key;
          if (auto e = std::move(item).get(field); e) {
            return e;
          }
          if (auto e = field.unescaped_key().get(key); e) {
            return e;
          }
          if (auto e = skip(field.value()); e) {
            return e;
          }
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::array: {
        od::array array;
        if (auto e = value.get_array().get(array); e) {
          return e;
        }
        for (auto item : array) {
          od::value element;
          if (auto e = item.get(element); e) {
            return e;
          }
          if (auto e = skip(element); e) {
            return e;
          }
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::string: {
        std::string_view s;
        return value.get_string().get(s);
      }
      case od::json_type::number:
        // Checked, not converted: the iterator steps over it on its own.
        return is_json_number(trim_right(value.raw_json_token())) ? simdjson::SUCCESS
                                                                  : simdjson::NUMBER_ERROR;
      case od::json_type::boolean: {
        bool b = false;
        return value.get_bool().get(b);
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = value.is_null().get(is_null); e) {
          return e;
        }
        return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
      }
    }
    return simdjson::INCORRECT_TYPE;
  }

  // Validates `value` and returns its JSON text as a view into the payload.
  error_code capture(od::value value, std::string_view& raw) {
    const std::string_view token = value.raw_json_token();
    od::json_type type;
    if (auto e = value.type().get(type); e) {
      return e;
    }
    if (auto e = skip(value); e) {
      return e;
    }
    if (type != od::json_type::object && type != od::json_type::array) {
      raw = in_payload(trim_right(token));
      return simdjson::SUCCESS;
    }
    // After a container the iterator stands on the next token (`,` or the parent's `}`).
    const char* end = nullptr;
    if (auto e = doc_.current_location().get(end); e) {
      return e;
    }
    raw = in_payload(
        trim_right(std::string_view(token.data(), static_cast<std::size_t>(end - token.data()))));
    return simdjson::SUCCESS;
  }

  // `data`: JSON null counts as absent.
  error_code capture_data(od::value value, std::string_view& raw) {
    od::json_type type;
    if (auto e = value.type().get(type); e) {
      return e;
    }
    if (type == od::json_type::null) {
      raw = {};
      return skip(value);
    }
    return capture(value, raw);
  }

  // An object that may hold an event (E2 `attributes`, E3 `body`, E4 `data`).
  error_code scan_event_object(od::value value, Fields& fields) {
    const char* start = value.raw_json_token().data();
    od::object object;
    if (auto e = value.get_object().get(object); e) {
      return e;
    }
    fields.seen = true;
    for (auto item : object) {
      od::field field;
      std::string_view key;
      if (auto e = std::move(item).get(field); e) {
        return e;
      }
      if (auto e = field.unescaped_key().get(key); e) {
        return e;
      }
      key = trim(key);
      od::value child = field.value();
      bool handled = false;
      error_code e = common_field(key, child, fields, handled);
      if (!e && !handled) {
        e = key == "data" ? capture_data(child, fields.data_raw) : skip(child);
      }
      if (e) {
        return e;
      }
    }
    const char* end = nullptr;
    if (auto e = doc_.current_location().get(end); e) {
      return e;
    }
    fields.raw =
        in_payload(trim_right(std::string_view(start, static_cast<std::size_t>(end - start))));
    return simdjson::SUCCESS;
  }

  // Keys every event-level object may carry.
  error_code common_field(std::string_view key, od::value& value, Fields& fields, bool& handled) {
    handled = true;
    if (key == "eventName") {
      return read_event_name(value, fields);
    }
    if (key == "eventId") {
      return read_event_id(value, fields);
    }
    if (key == "orgId") {
      return read_org_id(value, fields.org_id);
    }
    if (key == "createdAt") {
      return read_time(value, fields.created_at_ms);
    }
    if (key == "eventLogId" || key == "traceAttributes") {
      bool is_null = false;
      od::json_type type;
      if (auto e = value.type().get(type); e) {
        return e;
      }
      is_null = type == od::json_type::null;
      (key == "eventLogId" ? fields.has_event_log_id : fields.has_trace_attributes) = !is_null;
      return skip(value);
    }
    handled = false;
    return simdjson::SUCCESS;
  }

  // A JSON string, as a view into the payload when written without escapes, else into `buf`.
  error_code read_string(od::value& value, std::string& buf, std::string_view& out) {
    const std::string_view token = trim_right(value.raw_json_token());
    std::string_view unescaped;
    if (auto e = value.get_string().get(unescaped); e) {
      return e;
    }
    if (token.size() >= 2 && token.find('\\') == std::string_view::npos) {
      out = in_payload(token.substr(1, token.size() - 2));
    } else {
      buf.assign(unescaped);
      out = buf;
    }
    return simdjson::SUCCESS;
  }

  // A string field, trimmed; any other type leaves `out` empty.
  error_code read_string_field(od::value& value, std::string& buf, std::string_view& out) {
    od::json_type type;
    if (auto e = value.type().get(type); e) {
      return e;
    }
    if (type != od::json_type::string) {
      out = {};
      return skip(value);
    }
    if (auto e = read_string(value, buf, out); e) {
      return e;
    }
    out = trim(out);
    return simdjson::SUCCESS;
  }

  error_code read_event_name(od::value& value, Fields& fields) {
    od::json_type type;
    if (auto e = value.type().get(type); e) {
      return e;
    }
    if (type != od::json_type::string) {
      fields.event_name = {};
      fields.name_state = type == od::json_type::null ? NameState::absent : NameState::not_string;
      return skip(value);
    }
    if (auto e = read_string(value, fields.name_buf, fields.event_name); e) {
      return e;
    }
    fields.event_name = trim(fields.event_name);
    fields.name_state = fields.event_name.empty() ? NameState::empty : NameState::present;
    return simdjson::SUCCESS;
  }

  // eventId is opaque: a string (trimmed) or, unusually, a number kept as written.
  error_code read_event_id(od::value& value, Fields& fields) {
    od::json_type type;
    if (auto e = value.type().get(type); e) {
      return e;
    }
    if (type == od::json_type::number) {
      const std::string_view token = trim_right(value.raw_json_token());
      if (!is_json_number(token)) {
        return simdjson::NUMBER_ERROR;
      }
      fields.event_id = in_payload(token);
      return simdjson::SUCCESS;
    }
    return read_string_field(value, fields.id_buf, fields.event_id);
  }

  // The text of a number, or of a string holding one; empty for anything else.
  error_code numeric_text(od::value& value, std::string_view& out) {
    out = {};
    od::json_type type;
    if (auto e = value.type().get(type); e) {
      return e;
    }
    if (type == od::json_type::number) {
      out = trim_right(value.raw_json_token());
      return is_json_number(out) ? simdjson::SUCCESS : simdjson::NUMBER_ERROR;
    }
    if (type == od::json_type::string) {
      return value.get_string().get(out);
    }
    return skip(value);
  }

  error_code read_org_id(od::value& value, std::optional<std::int64_t>& out) {
    std::string_view text;
    if (auto e = numeric_text(value, text); e) {
      return e;
    }
    text = trim(text);
    out = is_json_number(text) ? to_integer(text) : std::nullopt;
    return simdjson::SUCCESS;
  }

  error_code read_time(od::value& value, std::optional<std::int64_t>& out) {
    std::string_view text;
    if (auto e = numeric_text(value, text); e) {
      return e;
    }
    out = text.empty() ? std::nullopt : epoch_ms_from_text(text);
    return simdjson::SUCCESS;
  }

  // Views taken from the scratch copy, moved onto the same bytes of the caller's payload.
  [[nodiscard]] std::string_view in_payload(std::string_view in_scratch) const {
    return {payload_.data() + (in_scratch.data() - scratch_), in_scratch.size()};
  }

  od::document& doc_;
  const char* scratch_;
  std::string_view payload_;
};

const char* type_name(od::json_type type) {
  switch (type) {
    case od::json_type::array:
      return "an array";
    case od::json_type::object:
      return "an object";
    case od::json_type::number:
      return "a number";
    case od::json_type::string:
      return "a string";
    case od::json_type::boolean:
      return "a boolean";
    case od::json_type::null:
      return "null";
  }
  return "not an object";
}

tl::unexpected<bridge::core::Error> malformed(error_code e) {
  return reject(kMalformed,
                fmt::format("payload is not valid JSON: {}", simdjson::error_message(e)));
}

const char* describe(NameState state) {
  switch (state) {
    case NameState::empty:
      return "is empty";
    case NameState::not_string:
      return "is not a string";
    case NameState::absent:
    case NameState::present:
      break;
  }
  return "is missing";
}

}  // namespace

struct EnvelopeReader::State {
  od::parser parser;
  std::unique_ptr<char[]> scratch;
  std::size_t capacity = 0;  // bytes in `scratch`, padding included
  TopFields top;

  Result<Envelope> read(std::string_view payload);
};

EnvelopeReader::EnvelopeReader() : state_(std::make_unique<State>()) {}
EnvelopeReader::~EnvelopeReader() = default;
EnvelopeReader::EnvelopeReader(EnvelopeReader&&) noexcept = default;
EnvelopeReader& EnvelopeReader::operator=(EnvelopeReader&&) noexcept = default;

Result<Envelope> EnvelopeReader::read(std::string_view payload) {
  return state_->read(payload);
}

Result<Envelope> EnvelopeReader::State::read(std::string_view payload) {
  if (trim(payload).empty()) {
    return reject(kMalformed, "payload is empty");
  }
  if (!simdjson::validate_utf8(payload.data(), payload.size())) {
    return reject(kEncoding, "payload is not valid UTF-8");
  }

  // simdjson reads up to SIMDJSON_PADDING bytes past the end; Kafka buffers carry no padding.
  const std::size_t needed = payload.size() + simdjson::SIMDJSON_PADDING;
  if (needed > capacity) {
    capacity = std::max(needed, capacity + capacity / 2);
    scratch.reset(new char[capacity]);
  }
  std::memcpy(scratch.get(), payload.data(), payload.size());
  std::memset(scratch.get() + payload.size(), 0, simdjson::SIMDJSON_PADDING);

  od::document doc;
  if (auto e = parser.iterate(scratch.get(), payload.size(), capacity).get(doc); e) {
    return malformed(e);
  }
  od::json_type type;
  if (auto e = doc.type().get(type); e) {
    return malformed(e);
  }
  if (type != od::json_type::object) {
    return reject(kMalformed, fmt::format("payload is {}, not a JSON object", type_name(type)));
  }
  od::object object;
  if (auto e = doc.get_object().get(object); e) {
    return malformed(e);
  }
  top.reset();
  Walker walker(doc, scratch.get(), payload);
  if (auto e = walker.scan_top(object, top); e) {
    return malformed(e);
  }
  // Anything but whitespace after the object (e.g. a second document) is an error.
  const char* rest = nullptr;
  if (!doc.current_location().get(rest)) {
    return reject(kMalformed, "payload has data after the JSON object");
  }

  Envelope env;
  const Fields* event = nullptr;
  if (top.event.name_state == NameState::present) {
    event = &top.event;
    env.variant = top.event.has_event_log_id && top.event.has_trace_attributes
                      ? EnvelopeVariant::e5_raw
                      : EnvelopeVariant::e1_flat;
    env.event_raw = trim(payload);
  } else if (top.event.name_state != NameState::absent) {
    return reject(kEnvelope, fmt::format("eventName {}", describe(top.event.name_state)));
  } else if (top.attributes.seen) {
    const Fields& attrs = top.attributes;
    std::string_view name;
    if (attrs.name_state == NameState::present) {
      name = attrs.event_name;
    } else if (!top.event_type.empty()) {
      name = top.event_type;
    } else {
      return reject(kEnvelope,
                    fmt::format("wrapped event (attributes): attributes.eventName {} and there is "
                                "no eventType",
                                describe(attrs.name_state)));
    }
    env.variant = EnvelopeVariant::e2_wrapped;
    env.event_name = trim(strip_org_prefix(name).first);
    if (env.event_name.empty()) {
      return reject(kEnvelope, "wrapped event (attributes): the event name is empty");
    }
    env.event_id = !top.event.event_id.empty() ? top.event.event_id : attrs.event_id;
    std::optional<std::int64_t> org = attrs.org_id ? attrs.org_id : top.event.org_id;
    if (!org) {
      org = strip_org_prefix(top.event_type).second;
    }
    if (org) {
      env.org_id = *org;
      env.has_org_id = true;
    }
    const std::optional<std::int64_t> created =
        attrs.created_at_ms ? attrs.created_at_ms
                            : (top.time_stamp_ms ? top.time_stamp_ms : top.event.created_at_ms);
    if (created) {
      env.created_at_ms = *created;
      env.has_created_at = true;
    }
    env.event_raw = attrs.raw;
    env.data_raw = attrs.data_raw;
    return env;
  } else if (top.body.seen && top.body.name_state == NameState::present) {
    event = &top.body;
    env.variant = EnvelopeVariant::e3_body;
    env.event_raw = top.body.raw;
  } else if (top.data.seen && top.data.name_state == NameState::present) {
    event = &top.data;
    env.variant = EnvelopeVariant::e4_api_response;
    env.event_raw = top.data.raw;
  } else if (top.body.seen) {
    return reject(kEnvelope, fmt::format("body.eventName {}", describe(top.body.name_state)));
  } else if (top.data.seen && top.data.name_state != NameState::absent) {
    return reject(kEnvelope, fmt::format("data.eventName {}", describe(top.data.name_state)));
  } else {
    return reject(kEnvelope,
                  "no event name: eventName is missing at the top level and there is no "
                  "attributes, body or data object carrying one");
  }

  env.event_name = event->event_name;
  env.event_id = event->event_id;
  if (event->org_id) {
    env.org_id = *event->org_id;
    env.has_org_id = true;
  }
  if (event->created_at_ms) {
    env.created_at_ms = *event->created_at_ms;
    env.has_created_at = true;
  }
  env.data_raw = event->data_raw;
  return env;
}

}  // namespace transforms

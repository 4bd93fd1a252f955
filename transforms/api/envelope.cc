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
#include <vector>

#include "transforms/api/json_check.h"
#include "transforms/api/values.h"

namespace transforms {
namespace {

namespace od = simdjson::ondemand;
using bridge::core::reject;
using simdjson::error_code;

constexpr const char* kMalformed = "malformed-json";
constexpr const char* kEncoding = "encoding";
constexpr const char* kEnvelope = "envelope";

using namespace values;  // NOLINT(google-build-using-namespace): the shared value parsers

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
  std::string_view ref_id;
  std::string_view api_request_id;
  std::string_view loyalty_event_id;
  std::string_view event_log_id;
  bool has_event_log_id = false;
  bool has_trace_attributes = false;
  std::string_view raw;  // this object's JSON text
  // Backing store for the strings above when their JSON text contains escapes.
  std::string name_buf;
  std::string id_buf;
  std::string ref_buf;
  std::string request_buf;
  std::string loyalty_buf;
  std::string log_buf;

  void reset() {
    seen = false;
    name_state = NameState::absent;
    event_name = {};
    event_id = {};
    org_id.reset();
    created_at_ms.reset();
    data_raw = {};
    ref_id = {};
    api_request_id = {};
    loyalty_event_id = {};
    event_log_id = {};
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
  // The top level has `errors` or `warnings`: an API response ({data, errors, warnings}), the
  // only place data.eventName names the event (reference/xdm-mapping.md §7.8).
  bool api_response = false;

  void reset() {
    api_response = false;
    event.reset();
    event_type = {};
    time_stamp_ms.reset();
    attributes.reset();
    body.reset();
    data.reset();
  }
};

// A value that may be the event's `data`: where it is (member ordinals, so that the document can
// be walked to it again without comparing keys), and whether its contents are still unchecked.
struct Region {
  std::string_view raw;  // in the payload
  int top = -1;          // ordinal of the member of the root object (that holds it)
  int nested = -1;       // ordinal within that member's object; -1: the member itself
  bool deferred = false;
};

// One pass over a document that collects the envelope facts. Every value is validated on the
// way, except, when `defer` is set, the contents of objects that may be `data` (the top-level
// `data`, and `data` inside `attributes`, `body` or the top-level `data`): they are stepped over
// by their brackets and recorded as deferred regions, for the transform that walks `data` anyway
// (or EnvelopeReader::check_data) to validate.
class Walker {
 public:
  Walker(od::document& doc, const char* scratch, std::string_view payload, bool defer,
         std::vector<Region>& regions)
      : doc_(doc), scratch_(scratch), payload_(payload), defer_(defer), regions_(regions) {}

  // The top-level `data` was stepped over unseen because E1 looked settled.
  [[nodiscard]] bool stepped_over_data() const { return stepped_over_data_; }

  error_code scan_top(od::object object, TopFields& top) {
    int ordinal = -1;
    for (auto item : object) {
      top_ordinal_ = ++ordinal;
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
        if (type == od::json_type::object && key == "data" && defer_ &&
            top.event.name_state == NameState::present) {
          // E1 (its eventName came first, as Capillary writes it): `data` is the event's data,
          // not an E4 event to look into; step over it by its brackets. Should a later member
          // undo E1 (a second eventName), read() starts again without deferring.
          e = capture_data(value, top.event.data_raw, -1);
          stepped_over_data_ = true;
        } else if (type == od::json_type::object) {
          const bool is_data = key == "data";
          e = scan_event_object(value, nested, is_data && defer_);
          if (!e && is_data) {
            top.event.data_raw = nested.raw;
            regions_.push_back({nested.raw, ordinal, -1, defer_});
          }
        } else if (key == "data") {
          e = capture_data(value, top.event.data_raw, -1);
        } else {
          e = skip(value);
        }
      } else if (key == "errors" || key == "warnings") {
        top.api_response = true;
        e = skip(value);
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
  static error_code skip(od::value value) { return check_value(value); }

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

  // `data` (the member at `nested` of the current top-level member, or that member itself when
  // -1): JSON null counts as absent. An object is stepped over unchecked when deferring.
  error_code capture_data(od::value value, std::string_view& raw, int nested) {
    od::json_type type;
    if (auto e = value.type().get(type); e) {
      return e;
    }
    if (type == od::json_type::null) {
      raw = {};
      return skip(value);
    }
    if (defer_ && type == od::json_type::object) {
      od::object object;
      if (auto e = value.get_object().get(object); e) {
        return e;
      }
      if (auto e = object.raw_json().get(raw); e) {
        return e;
      }
      raw = in_payload(trim_right(raw));
      regions_.push_back({raw, top_ordinal_, nested, true});
      return simdjson::SUCCESS;
    }
    if (auto e = capture(value, raw); e) {
      return e;
    }
    regions_.push_back({raw, top_ordinal_, nested, false});
    return simdjson::SUCCESS;
  }

  // An object that may hold an event (E2 `attributes`, E3 `body`, E4 `data`). With `lenient`,
  // members that are not envelope fields are stepped over unchecked (the top-level `data` while
  // deferring: in E1 it is the event's data).
  error_code scan_event_object(od::value value, Fields& fields, bool lenient) {
    const char* start = value.raw_json_token().data();
    od::object object;
    if (auto e = value.get_object().get(object); e) {
      return e;
    }
    fields.seen = true;
    int ordinal = -1;
    for (auto item : object) {
      ++ordinal;
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
        if (key == "data") {
          e = capture_data(child, fields.data_raw, ordinal);
        } else if (!lenient) {
          e = skip(child);
        }  // else: not consumed; the iterator steps over it by its brackets
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
    if (key == "refId") {
      return read_string_field(value, fields.ref_buf, fields.ref_id);
    }
    if (key == "apiRequestId") {
      return read_string_field(value, fields.request_buf, fields.api_request_id);
    }
    if (key == "loyaltyEventId") {
      return read_opaque_id(value, fields.loyalty_buf, fields.loyalty_event_id);
    }
    if (key == "eventLogId") {
      od::json_type type;
      if (auto e = value.type().get(type); e) {
        return e;
      }
      fields.has_event_log_id = type != od::json_type::null;
      return read_opaque_id(value, fields.log_buf, fields.event_log_id);
    }
    if (key == "traceAttributes") {
      od::json_type type;
      if (auto e = value.type().get(type); e) {
        return e;
      }
      fields.has_trace_attributes = type != od::json_type::null;
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

  error_code read_event_id(od::value& value, Fields& fields) {
    return read_opaque_id(value, fields.id_buf, fields.event_id);
  }

  // Ids are opaque: a string (trimmed) or a number kept as written; anything else is absent.
  error_code read_opaque_id(od::value& value, std::string& buf, std::string_view& out) {
    od::json_type type;
    if (auto e = value.type().get(type); e) {
      return e;
    }
    if (type == od::json_type::number) {
      const std::string_view token = trim_right(value.raw_json_token());
      if (!is_json_number(token)) {
        return simdjson::NUMBER_ERROR;
      }
      out = in_payload(token);
      return simdjson::SUCCESS;
    }
    return read_string_field(value, buf, out);
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
  bool defer_;
  std::vector<Region>& regions_;
  int top_ordinal_ = -1;
  bool stepped_over_data_ = false;
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
  return malformed_json(e);
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
  od::document doc;
  std::unique_ptr<char[]> scratch;
  std::size_t capacity = 0;  // bytes in `scratch`, padding included
  TopFields top;
  std::vector<Region> regions;
  const Region* chosen = nullptr;  // the Envelope's data_raw, when it has one
  bool data_pending = false;       // the chosen region is still unchecked

  Result<Envelope> read(std::string_view payload, Check check);
  Result<Envelope> unwrap(std::string_view payload);
  error_code check_document();
  simdjson::simdjson_result<od::value> go_to(const Region& region);
};

EnvelopeReader::EnvelopeReader() : state_(std::make_unique<State>()) {}
EnvelopeReader::~EnvelopeReader() = default;
EnvelopeReader::EnvelopeReader(EnvelopeReader&&) noexcept = default;
EnvelopeReader& EnvelopeReader::operator=(EnvelopeReader&&) noexcept = default;

Result<Envelope> EnvelopeReader::read(std::string_view payload, Check check) {
  return state_->read(payload, check);
}

Result<void> EnvelopeReader::check_data() {
  State& s = *state_;
  if (!s.data_pending) {
    return {};
  }
  s.data_pending = false;
  auto value = s.go_to(*s.chosen);
  if (value.error()) {
    return malformed(value.error());
  }
  if (auto e = check_value(value.value_unsafe()); e) {
    return malformed(e);
  }
  return {};
}

simdjson::simdjson_result<od::value> EnvelopeReader::data() {
  if (state_->chosen == nullptr) {
    return simdjson::NO_SUCH_FIELD;
  }
  return state_->go_to(*state_->chosen);
}

bool EnvelopeReader::data_checked() const {
  return !state_->data_pending;
}

namespace {

// The value of the member at `ordinal` of `object`; the members before it are stepped over.
simdjson::simdjson_result<od::value> member_at(od::object object, int ordinal) {
  int i = 0;
  for (auto item : object) {
    od::field field;
    if (auto e = std::move(item).get(field); e) {
      return e;
    }
    if (i++ == ordinal) {
      return simdjson::simdjson_result<od::value>(std::move(field).value());
    }  // else not consumed: the iterator steps over the value
  }
  return simdjson::NO_SUCH_FIELD;
}

}  // namespace

simdjson::simdjson_result<od::value> EnvelopeReader::State::go_to(const Region& region) {
  doc.rewind();
  od::object root;
  if (auto e = doc.get_object().get(root); e) {
    return e;
  }
  od::value member;
  if (auto e = member_at(root, region.top).get(member); e || region.nested < 0) {
    return e ? simdjson::simdjson_result<od::value>(e)
             : simdjson::simdjson_result<od::value>(std::move(member));
  }
  od::object inner;
  if (auto e = member.get_object().get(inner); e) {
    return e;
  }
  return member_at(inner, region.nested);
}

// The whole document, validated (after a deferring walk, when more than the event's data was
// left unchecked or an envelope reject must not hide broken JSON).
error_code EnvelopeReader::State::check_document() {
  doc.rewind();
  od::value root;
  if (auto e = doc.get_value().get(root); e) {
    return e;
  }
  return check_value(root);
}

Result<Envelope> EnvelopeReader::State::read(std::string_view payload, Check check) {
  chosen = nullptr;
  data_pending = false;
  regions.clear();
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

  if (auto e = parser.iterate(scratch.get(), payload.size(), capacity).get(doc); e) {
    return malformed(e);
  }
  od::json_type type;
  if (auto e = doc.type().get(type); e) {
    return malformed(e);
  }
  if (type != od::json_type::object) {
    // On demand guesses a scalar's type from its first byte ("this is not json" looks like
    // `true`): say what a full parse sees. Only rejects pay for it.
    thread_local simdjson::dom::parser full;
    simdjson::dom::element element;
    if (auto e = full.parse(scratch.get(), payload.size(), false).get(element); e) {
      return malformed(e);
    }
    return reject(kMalformed, fmt::format("payload is {}, not a JSON object", type_name(type)));
  }
  od::object object;
  if (auto e = doc.get_object().get(object); e) {
    return malformed(e);
  }
  top.reset();
  const bool defer = check == Check::defer_data;
  Walker walker(doc, scratch.get(), payload, defer, regions);
  if (auto e = walker.scan_top(object, top); e) {
    return malformed(e);
  }
  // Anything but whitespace after the object (e.g. a second document) is an error.
  const char* rest = nullptr;
  if (!doc.current_location().get(rest)) {
    return reject(kMalformed, "payload has data after the JSON object");
  }
  if (walker.stepped_over_data() && top.event.name_state != NameState::present) {
    return read(payload, Check::all);  // not E1 after all: `data` must be looked into
  }
  const bool deferred = defer && std::any_of(regions.begin(), regions.end(),
                                             [](const Region& r) { return r.deferred; });
  auto env = unwrap(payload);
  if (!env) {
    // Broken JSON anywhere is `malformed-json`, whatever else is wrong with the envelope.
    if (deferred) {
      if (auto e = check_document(); e) {
        return malformed(e);
      }
    }
    return env;
  }
  if (!env->data_raw.empty()) {
    for (const Region& r : regions) {
      if (r.raw.data() == env->data_raw.data() && r.raw.size() == env->data_raw.size()) {
        chosen = &r;
      }
    }
  }
  if (deferred) {
    // Regions inside the chosen one are checked with it; any other is checked now (E4, where
    // the event object around `data` was stepped over, or a second `data` member).
    const auto inside = [this](const Region& r) {
      return chosen != nullptr && r.raw.data() >= chosen->raw.data() &&
             r.raw.data() + r.raw.size() <= chosen->raw.data() + chosen->raw.size();
    };
    const bool others = std::any_of(regions.begin(), regions.end(),
                                    [&](const Region& r) { return r.deferred && !inside(r); });
    if (others) {
      if (auto e = check_document(); e) {
        return malformed(e);
      }
    } else {
      data_pending = chosen != nullptr && chosen->deferred;
    }
  }
  return env;
}

Result<Envelope> EnvelopeReader::State::unwrap(std::string_view payload) {
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
    env.ref_id = !attrs.ref_id.empty() ? attrs.ref_id : top.event.ref_id;
    env.api_request_id =
        !attrs.api_request_id.empty() ? attrs.api_request_id : top.event.api_request_id;
    env.loyalty_event_id =
        !attrs.loyalty_event_id.empty() ? attrs.loyalty_event_id : top.event.loyalty_event_id;
    env.event_log_id =
        !top.event.event_log_id.empty() ? top.event.event_log_id : attrs.event_log_id;
    return env;
  } else if (top.body.seen && top.body.name_state == NameState::present) {
    event = &top.body;
    env.variant = EnvelopeVariant::e3_body;
    env.event_raw = top.body.raw;
  } else if (top.data.seen && top.data.name_state == NameState::present && top.api_response) {
    event = &top.data;
    env.variant = EnvelopeVariant::e4_api_response;
    env.event_raw = top.data.raw;
  } else if (top.data.seen && top.data.name_state == NameState::present) {
    return reject(kEnvelope,
                  "no eventName at the top level; data.eventName names the event only in an API "
                  "response (a top level with errors or warnings)");
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
  env.ref_id = event->ref_id;
  env.api_request_id = event->api_request_id;
  env.loyalty_event_id = event->loyalty_event_id;
  env.event_log_id = event->event_log_id;
  return env;
}

}  // namespace transforms

#pragma once
// Typed conversions of the mapping language (`type:`), shared by the transform (per event) and
// the compiler (constants and defaults are converted once at startup to catch bad ones).
// No allocation once the scratch buffer has grown; never throws.

#include <cstdint>
#include <string>
#include <string_view>

#include "transforms/api/values.h"
#include "transforms/mapping/plan.h"

namespace transforms::mapping {

struct Converted {
  enum class Tag : std::uint8_t { string, number, integer, boolean };
  Tag tag = Tag::string;
  std::string_view text;  // string; number: a valid JSON number
  std::int64_t integer = 0;
  bool truth = false;
};

enum class Status : std::uint8_t {
  ok,
  wrong_kind,        // e.g. an object where a string is needed: invalid-field
  not_integer,       // invalid-field
  not_number,        // invalid-field
  not_boolean,       // invalid-field
  unparseable_time,  // left out, warning `unparseable-time`
  invalid_email,     // left out, warning `identity-invalid-email`
  invalid_phone,     // left out, warning `identity-invalid-phone`
  phone_not_e164,    // left out, warning `phone-not-e164` (xdm::normalize_phone)
  hashed,            // left out, warning `identity-hashed`
};

// Type names as written in configuration.
[[nodiscard]] std::string_view type_name(Type type);
[[nodiscard]] bool parse_type(std::string_view name, Type& out);
// What a type accepts, for "expected …" messages.
[[nodiscard]] std::string_view expected(Type type);

// What a type writes, as a JSON Schema type and format ("string" + "date-time" for times); both
// empty for `automatic`, whose output keeps the JSON type of its input.
struct SchemaType {
  std::string_view type;
  std::string_view format;
};
[[nodiscard]] SchemaType schema_type(Type type);

class Converter {
 public:
  // Converts a value that is not blank (is_blank(v) is false). `offset_minutes` is the org's
  // UTC offset, for date-only values; `phone_code` its calling code for national phone numbers
  // (empty: none). Views in `out` stay valid until the next convert().
  Status convert(const Value& v, Type type, int offset_minutes, std::string_view phone_code,
                 Converted& out);

 private:
  // A number's text as Platform parses it: plain decimals as they are, others through a double;
  // false when it is not a number within a double's range.
  bool number_text(std::string_view t, Converted& out);

  std::string buf_;
  char text_[values::kMaxTimeText] = {};
};

}  // namespace transforms::mapping

#pragma once
// The JSON type of a value a transform captured from `data`, with `absent` for a key that was
// not there. Shared by the transforms' on-demand captures and their `invalid-field` messages.

#include <simdjson.h>

#include <cstdint>
#include <string_view>

namespace transforms {

enum class JsonKind : std::uint8_t { absent, null, string, number, boolean, object, array };

// "missing", "null", "a string", "a number", "a boolean", "an object", "an array".
[[nodiscard]] std::string_view describe(JsonKind kind);

[[nodiscard]] constexpr JsonKind kind_of(simdjson::ondemand::json_type t) {
  using simdjson::ondemand::json_type;
  switch (t) {
    case json_type::array:
      return JsonKind::array;
    case json_type::object:
      return JsonKind::object;
    case json_type::number:
      return JsonKind::number;
    case json_type::string:
      return JsonKind::string;
    case json_type::boolean:
      return JsonKind::boolean;
    case json_type::null:
      return JsonKind::null;
  }
  return JsonKind::null;
}

}  // namespace transforms

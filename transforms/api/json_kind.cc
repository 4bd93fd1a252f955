#include "transforms/api/json_kind.h"

namespace transforms {

std::string_view describe(JsonKind kind) {
  switch (kind) {
    case JsonKind::absent:
      return "missing";
    case JsonKind::null:
      return "null";
    case JsonKind::string:
      return "a string";
    case JsonKind::number:
      return "a number";
    case JsonKind::boolean:
      return "a boolean";
    case JsonKind::object:
      return "an object";
    case JsonKind::array:
      return "an array";
  }
  return "?";
}

}  // namespace transforms

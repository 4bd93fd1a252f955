#include "transforms/api/json_check.h"

#include <fmt/format.h>

#include "transforms/api/values.h"

namespace transforms {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// simdjson counts the root value as depth 1, a member of the root as 2, and so on.
constexpr int kDepthLimit = kMaxJsonDepth + 1;

error_code check(od::value value) noexcept {
  od::json_type type;
  if (auto e = value.type().get(type); e) {
    return e;
  }
  switch (type) {
    case od::json_type::object: {
      if (value.current_depth() > kDepthLimit) {
        return simdjson::DEPTH_ERROR;
      }
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
        if (auto e = check(field.value()); e) {
          return e;
        }
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      if (value.current_depth() > kDepthLimit) {
        return simdjson::DEPTH_ERROR;
      }
      od::array array;
      if (auto e = value.get_array().get(array); e) {
        return e;
      }
      for (auto item : array) {
        od::value element;
        if (auto e = item.get(element); e) {
          return e;
        }
        if (auto e = check(element); e) {
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
      return check_number(value.raw_json_token());
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

}  // namespace

error_code check_value(od::value value) noexcept {
  return check(value);
}

error_code check_number(std::string_view raw_token) noexcept {
  return values::is_json_number(values::trim_right(raw_token)) ? simdjson::SUCCESS
                                                               : simdjson::NUMBER_ERROR;
}

tl::unexpected<bridge::core::Error> malformed_json(simdjson::error_code e) {
  return bridge::core::reject(
      "malformed-json", fmt::format("payload is not valid JSON: {}", simdjson::error_message(e)));
}

}  // namespace transforms

#pragma once
// Full validation of one on-demand value, shared by every walk over a payload: the envelope
// reader's, and the transforms' walks over `data` that replace it (parse once). A walker that
// takes some values itself hands every value it does not take to check_value(), and checks the
// scalars it takes as check_value() would (check_number for a number's token), so a payload is
// accepted or refused alike whichever walk saw it.

#include <simdjson.h>

#include <string_view>

#include "bridge/core/result.h"

namespace transforms {

// Containers nested deeper than this below the document root are refused (DEPTH_ERROR): the
// walk recurses once per level, and a 1 MiB payload of `[[[[…` must not overflow the stack.
// Capillary events nest less than ten levels.
inline constexpr int kMaxJsonDepth = 256;

// Validates `value` completely and consumes it: strings (escapes), numbers (JSON's grammar;
// any magnitude), literals, every member of containers. Returns the first error.
[[nodiscard]] simdjson::error_code check_value(simdjson::ondemand::value value) noexcept;

// A number's token as on-demand hands it out (raw_json_token: trailing blanks included):
// SUCCESS when it follows JSON's number grammar, else NUMBER_ERROR.
[[nodiscard]] simdjson::error_code check_number(std::string_view raw_token) noexcept;

// The reject for broken JSON, wherever a walk found it: `malformed-json`, "payload is not valid
// JSON: <simdjson's message>" (which names the problem, never the bytes).
[[nodiscard]] tl::unexpected<bridge::core::Error> malformed_json(simdjson::error_code e);

}  // namespace transforms

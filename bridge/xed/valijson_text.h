#pragma once
// What valijson's error descriptions mean, for code that turns them into messages of its own
// (bridge/xed's Platform-style violations, tests/contract's paths). Header-only: no valijson
// include needed to use it.

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace bridge::xed {

// valijson wraps every leaf error in one "failed to validate against <the enclosing schema>"
// error per level (property, item, allOf branch); the leaf already names the path.
[[nodiscard]] inline bool is_valijson_wrapper(std::string_view description) {
  constexpr std::array<std::string_view, 6> kWrappers = {
      "Failed to validate against schema associated with property name",
      "Failed to validate against schema associated with pattern",
      "Failed to validate against additional properties schema",
      "Failed to validate against child schema #",
      "Failed to validate item #",
      "Failed to validate against dependent schema",
  };
  return std::any_of(kWrappers.begin(), kWrappers.end(),
                     [&](std::string_view w) { return description.starts_with(w); });
}

// The property `additionalProperties: false` refused, when that is what `description` says.
[[nodiscard]] inline std::optional<std::string> valijson_unknown_property(
    std::string_view description) {
  constexpr std::string_view kUnknownProperty =
      "Object contains a property that could not be validated using 'properties' or "
      "'additionalProperties' constraints: '";
  if (!description.starts_with(kUnknownProperty) ||
      description.size() <= kUnknownProperty.size() + 2) {
    return std::nullopt;
  }
  return std::string(description.substr(kUnknownProperty.size(),
                                        description.size() - kUnknownProperty.size() - 2));
}

}  // namespace bridge::xed

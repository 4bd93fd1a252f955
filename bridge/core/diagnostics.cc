#include "bridge/core/diagnostics.h"

#include <fmt/format.h>

namespace bridge::core {

void Diagnostics::error(const YAML::Node& node, std::string message) {
  error(node.Mark(), std::move(message));
}

void Diagnostics::error(const YAML::Mark& mark, std::string message) {
  if (mark.is_null()) {
    items_.push_back({file_, 0, 0, std::move(message)});
    return;
  }
  items_.push_back({file_, mark.line + 1, mark.column + 1, std::move(message)});
}

void Diagnostics::error(std::string message) {
  items_.push_back({file_, 0, 0, std::move(message)});
}

std::string Diagnostics::to_string() const {
  std::string out;
  for (const auto& d : items_) {
    if (d.line > 0) {
      out += fmt::format("{}:{}:{}: {}\n", d.file, d.line, d.column, d.message);
    } else {
      out += fmt::format("{}: {}\n", d.file, d.message);
    }
  }
  return out;
}

}  // namespace bridge::core

#include "transforms/api/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace transforms {

void Registry::add(std::unique_ptr<TransformFactory> factory) {
  if (!factory) {
    std::fputs("transforms::Registry::add: null factory\n", stderr);
    std::abort();
  }
  std::string name(factory->name());
  if (name.empty() || factories_.contains(name)) {
    std::fputs(
        fmt::format("transforms::Registry::add: transform name '{}' is {}; registered: {}\n", name,
                    name.empty() ? "empty" : "already registered", fmt::join(names(), ", "))
            .c_str(),
        stderr);
    std::abort();
  }
  factories_.emplace(std::move(name), std::move(factory));
}

const TransformFactory* Registry::find(std::string_view name) const {
  const auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : it->second.get();
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  out.reserve(factories_.size());
  for (const auto& [name, factory] : factories_) {
    out.push_back(name);
  }
  return out;
}

}  // namespace transforms

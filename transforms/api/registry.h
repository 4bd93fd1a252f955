#pragma once
// The set of transform factories a process knows, by name. Filled once at startup by
// register_builtin_transforms() (transforms/builtin) and read-only afterwards; there is no global
// instance and no static self-registration.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transforms/api/transform.h"

namespace transforms {

class Registry {
 public:
  // Takes ownership. A null factory or a name that is already registered is a programming error
  // and aborts the process with a message listing the registered names.
  void add(std::unique_ptr<TransformFactory> factory);

  // nullptr when no factory has that name. Names are case-sensitive.
  [[nodiscard]] const TransformFactory* find(std::string_view name) const;

  // Registered names, sorted.
  [[nodiscard]] std::vector<std::string> names() const;

 private:
  std::map<std::string, std::unique_ptr<TransformFactory>, std::less<>> factories_;
};

}  // namespace transforms

#pragma once
// The one place that names every built-in transform. The composition root (bridge/app) and the
// tests call register_builtin_transforms() on their own Registry.

#include "transforms/api/registry.h"

namespace transforms {

void register_builtin_transforms(Registry& registry);

}  // namespace transforms

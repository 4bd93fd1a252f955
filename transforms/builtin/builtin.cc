#include "transforms/builtin/builtin.h"

#include "transforms/passthrough/passthrough.h"

namespace transforms {

void register_builtin_transforms(Registry& registry) {
  registry.add(passthrough::make_factory());
}

}  // namespace transforms

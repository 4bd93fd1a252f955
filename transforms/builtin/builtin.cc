#include "transforms/builtin/builtin.h"

#include "transforms/capillary/capillary.h"
#include "transforms/mapping/mapping.h"
#include "transforms/passthrough/passthrough.h"
#include "transforms/plugin/plugin.h"

namespace transforms {

void register_builtin_transforms(Registry& registry) {
  registry.add(passthrough::make_factory());
  registry.add(capillary::make_factory());
  registry.add(plugin::make_factory());
  registry.add(mapping::make_factory());
}

}  // namespace transforms

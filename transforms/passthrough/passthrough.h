#pragma once
// `passthrough`: sends the consumed payload to one target byte for byte (Emitter::emit_unchanged),
// without parsing `data`. Settings:
//
//   settings:
//     target: default        # required; a name from `targets:`
//     kind: raw              # optional; raw | profile | experience_event (default raw)

#include <memory>
#include <string_view>

#include "transforms/api/transform.h"

namespace transforms::passthrough {

inline constexpr std::string_view kName = "passthrough";

std::unique_ptr<TransformFactory> make_factory();

}  // namespace transforms::passthrough

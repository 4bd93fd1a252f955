#include "transforms/api/transform.h"

namespace transforms {

std::string_view to_string(OutputKind kind) {
  switch (kind) {
    case OutputKind::profile:
      return "profile";
    case OutputKind::experience_event:
      return "experience_event";
    case OutputKind::raw:
      return "raw";
  }
  return "unknown";
}

std::string_view to_string(EnvelopeVariant variant) {
  switch (variant) {
    case EnvelopeVariant::e1_flat:
      return "E1";
    case EnvelopeVariant::e2_wrapped:
      return "E2";
    case EnvelopeVariant::e3_body:
      return "E3";
    case EnvelopeVariant::e4_api_response:
      return "E4";
    case EnvelopeVariant::e5_raw:
      return "E5";
  }
  return "unknown";
}

}  // namespace transforms

#pragma once
// The Platform streaming message around one XDM body (reference/platform-streaming.md section
// 1.5, reference/xdm-mapping.md section 6):
//   {"header":{"schemaRef":{"id","contentType"},"imsOrgId","datasetId","flowId",
//              "source":{"name"}},
//    "body":{"xdmMeta":{"schemaRef":{"id","contentType"}},"xdmEntity":<body>}}
// Header fields come from the output's Target; empty ones are left out (Platform rejects
// empty values), which is what a file or Kafka sink without Platform ids gets.

#include <string>
#include <string_view>

#include "transforms/api/transform.h"
#include "transforms/xdm/writer.h"

namespace transforms::xdm {

struct MessageContext {
  std::string_view ims_org_id;   // optional; Platform fills it in from the inlet when absent
  std::string_view source_name;  // header.source.name
};

// Writes one message as a complete document into `w` (after w.reset()). `entity` must be a
// complete JSON object (it is spliced, not re-parsed).
void write_streaming_message(Writer& w, const Target& target, const MessageContext& context,
                             std::string_view entity);

// The same message as fixed bytes around the entity: prefix + entity + suffix is exactly what
// write_streaming_message writes. Everything but the entity depends only on the target, so a
// sink frames a message with three appends instead of writing it again.
struct MessageFraming {
  std::string prefix;
  std::string suffix;
};
[[nodiscard]] MessageFraming streaming_framing(const Target& target, const MessageContext& context);

}  // namespace transforms::xdm

#include "transforms/xdm/message.h"

namespace transforms::xdm {
namespace {

void write_schema_ref(Writer& w, const Target& target) {
  w.begin_object("schemaRef");
  w.string("id", target.schema_ref);
  w.string("contentType", target.content_type);
  w.end_object();
}

}  // namespace

void write_streaming_message(Writer& w, const Target& target, const MessageContext& context,
                             std::string_view entity) {
  w.begin_object();
  w.begin_object("header");
  write_schema_ref(w, target);
  w.string("imsOrgId", context.ims_org_id);
  w.string("datasetId", target.dataset_id);
  w.string("flowId", target.flow_id);
  w.begin_object("source");
  w.string("name", context.source_name);
  w.end_object();
  w.end_object();
  w.begin_object("body");
  w.begin_object("xdmMeta");
  write_schema_ref(w, target);
  w.end_object();
  w.raw("xdmEntity", entity);
  w.end_object();
  w.end_object();
}

MessageFraming streaming_framing(const Target& target, const MessageContext& context) {
  // The entity is the last member written: everything after it closes `body` and the message.
  constexpr std::string_view kMarker = "{}";
  Writer w;
  write_streaming_message(w, target, context, kMarker);
  const std::string_view whole = w.view();
  const std::size_t at = whole.rfind(kMarker);
  return {std::string(whole.substr(0, at)), std::string(whole.substr(at + kMarker.size()))};
}

}  // namespace transforms::xdm

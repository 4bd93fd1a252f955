#pragma once
// Reading a collection request body the way DCS does: the batch wrapper {"messages":[...]} or a
// single message, then per-message checks (header, xdm format, schemaRef, dataset, org, and no
// null or empty value anywhere in xdmEntity). Pure: no I/O, no locks.
//
// One Ingest per worker, reused across requests: the simdjson parsers and scratch buffers keep
// their capacity, so a warmed-up reader allocates nothing per message except a rejection reason.

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/core/result.h"

namespace bridge::emulator {

struct CheckedMessage {
  // The message's exact bytes inside the request body (valid while the body is).
  std::string_view json;
  int status = 0;         // 0 = accepted, else the per-message HTTP status
  bool injected = false;  // the failure is an injected fault, not a validation result
  std::string reason;     // why it failed; empty when accepted
  bool has_id = false;    // xdmEntity._id is a string
  std::uint32_t id_offset = 0, id_length = 0;  // into Ingest's id scratch
  // header.datasetId and header.schemaRef.id, into the same scratch (set when status is 0).
  std::uint32_t dataset_offset = 0, dataset_length = 0;
  std::uint32_t schema_offset = 0, schema_length = 0;
  std::string report;  // Platform's `report` object (JSON) for a schema violation, else empty
};

class Ingest {
 public:
  // `data` holds `size` bytes of JSON followed by at least simdjson::SIMDJSON_PADDING readable
  // bytes. An error means the whole request is a 400 (not JSON, no messages array); per-message
  // problems are in messages().
  [[nodiscard]] core::Result<void> read_batch(const char* data, std::size_t size,
                                              std::string_view ims_org);
  [[nodiscard]] core::Result<void> read_single(const char* data, std::size_t size,
                                               std::string_view ims_org);

  [[nodiscard]] std::vector<CheckedMessage>& messages() { return messages_; }
  [[nodiscard]] const std::vector<CheckedMessage>& messages() const { return messages_; }
  [[nodiscard]] std::string_view id(const CheckedMessage& m) const {
    return std::string_view(ids_).substr(m.id_offset, m.id_length);
  }
  [[nodiscard]] std::string_view dataset(const CheckedMessage& m) const {
    return std::string_view(ids_).substr(m.dataset_offset, m.dataset_length);
  }
  [[nodiscard]] std::string_view schema(const CheckedMessage& m) const {
    return std::string_view(ids_).substr(m.schema_offset, m.schema_length);
  }

 private:
  [[nodiscard]] core::Result<void> check(std::string_view json, std::string_view ims_org,
                                         CheckedMessage& out);
  simdjson::ondemand::parser batch_parser_;
  simdjson::dom::parser message_parser_;
  std::vector<CheckedMessage> messages_;
  std::string ids_;
  std::string path_;
};

}  // namespace bridge::emulator

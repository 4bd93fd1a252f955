#pragma once
// Per-event state every XDM-producing transform keeps (the `capillary` catalogue and `mapping`):
// the envelope facts XDM needs, the first failure, the `_id` rule, and the outputs held back
// until the whole event is known to be good (a rejected event emits nothing).
//
// One per Transform instance (so per worker), reused: a warmed-up EventState does not allocate.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "transforms/api/transform.h"
#include "transforms/api/values.h"
#include "transforms/xdm/settings.h"
#include "transforms/xdm/uuid.h"
#include "transforms/xdm/writer.h"

namespace transforms::xdm {

class EventState {
 public:
  // Starts an event: checks what every XDM output needs (eventId, orgId, createdAt within years
  // 0000-9999, data), rejecting as `envelope` otherwise, and prepares the per-event text.
  [[nodiscard]] Result<void> begin(const Envelope& env, const OutputSettings& settings,
                                   Emitter& out);

  [[nodiscard]] const Envelope& envelope() const { return *env_; }
  [[nodiscard]] Emitter& out() const { return *out_; }
  [[nodiscard]] std::string_view created() const { return created_; }    // RFC 3339, UTC, ms
  [[nodiscard]] int offset_minutes() const { return offset_; }           // the org's time zone
  [[nodiscard]] std::string_view org_text() const { return org_text_; }  // orgId, decimal

  // The first failure wins; result() turns it into the event's reject (a fatal error when the
  // failure was ours, not the record's: the `_id` could not be computed).
  void fail(std::string_view reason, std::string message);
  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] Result<void> result();

  // "_id": UUIDv5(URL namespace, "capillary:{orgId}:{eventId}{tail}"), tail being "" or
  // ":{index}" (and, for mappings, ":{suffix}") for events split into several outputs.
  void write_id(Writer& w, std::string_view tail = {});

  // Keeps a copy of `w`'s finished document for emit_all(), after checking it was written
  // cleanly and within Platform's size limits (xdm::check_size). Does nothing once failed.
  void keep(OutputKind kind, const Target* target, const Writer& w);
  [[nodiscard]] std::size_t kept() const { return kept_; }
  // Emits every kept output, in order; with the customer they are about as their ordering key
  // ("{orgId}:{customerId}") when `customer_id` is not empty.
  void emit_all(std::string_view customer_id = {});

 private:
  struct Output {
    OutputKind kind = OutputKind::experience_event;
    const Target* target = nullptr;
    std::string body;
  };

  const Envelope* env_ = nullptr;
  const OutputSettings* settings_ = nullptr;
  Emitter* out_ = nullptr;
  int offset_ = 0;
  std::string_view created_;
  char created_buf_[values::kMaxTimeText] = {};
  std::string_view org_text_;
  char org_buf_[24] = {};
  bool failed_ = false;
  bool fatal_ = false;
  std::string_view fail_reason_;
  std::string fail_message_;
  UuidV5 uuid_;
  std::vector<Output> outputs_;
  std::size_t kept_ = 0;
  std::string order_key_;
};

}  // namespace transforms::xdm

#pragma once
// What the receiver checks in a webhook body before producing it, and what it takes from each
// event for the record key. The bytes produced are always the event's own, unchanged.
//
// A body is one Capillary event (a JSON object) or a JSON array of them. Capillary's ENS
// documents one event per POST (../shared/reference/capillary-events.md section 2.1); the array
// form costs nothing and lets a relay batch. Every element of an array must be an object, or the
// whole body is refused: nothing of a refused body is produced.
//
// Threads: an Inspector is used by one thread at a time (the receiver keeps one per connection
// thread); it reuses its parsers and buffers.

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/core/result.h"
#include "transforms/api/envelope.h"

namespace bridge::receiver {

struct Event {
  std::string_view raw;  // the event's JSON as received (a batch element: its exact span)
  std::string event_id;  // "" when absent
  std::int64_t org_id = 0;
  bool has_org_id = false;
  std::string customer_id;  // data.customerIdentifiers.customerId (or a coupon's); "" when absent
};

class Inspector {
 public:
  // Checks `body` (which must have simdjson::SIMDJSON_PADDING readable bytes after its end) and
  // appends its events to `out`. Errors are rejects with a short reason naming no values:
  // `encoding` (not UTF-8), `malformed-json` (not JSON, trailing data, not an object or an array
  // of objects, an empty array).
  [[nodiscard]] core::Result<void> inspect(std::string_view body, std::vector<Event>& out);

 private:
  core::Result<void> read_one(std::string_view raw, Event& event);

  transforms::EnvelopeReader envelope_;
  simdjson::ondemand::parser parser_;
  std::string scratch_;  // a padded copy of `data` for the customer lookup
  std::vector<std::string_view> spans_;
};

// The record key for `event` under `mode` (config::ReceiverKey), into `out` ("" = no key):
// customer: "orgId:customerId", else the eventId; event-id: the eventId; none: no key.
// `path_org_id` (from a `/{orgId}` path, 0 if none) stands in for an event without orgId.
void key_for(const Event& event, config::ReceiverKey mode, std::int64_t path_org_id,
             std::string& out);

}  // namespace bridge::receiver

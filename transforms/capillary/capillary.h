#pragma once
// The built-in Capillary catalogue: every event of reference/xdm-mapping.md sections 4 and 5
// becomes an XDM ExperienceEvent and, for events that change the person or the loyalty account,
// an Individual Profile record, each sent to its own configured target.
//
// Route settings (see transforms/xdm/settings.h for the shared keys):
//   transform: capillary
//   settings:
//     tenant: acme
//     targets: {profile: profiles, experience_event: events}
//     identity: {customer_id_format: "{orgId}:{customerId}"}
//     org_timezones: {"50001": "+05:30"}
//     default_currency: INR
//     limits: {experience_event_bytes: 10240, profile_bytes: 102400, oversize: dead_letter}
//
// Reject reasons: `envelope` (eventId, orgId, createdAt or data missing), `identity` (no
// customer id), `unmapped` (an event name outside the catalogue), `invalid-field` (a field of
// the wrong type, with its JSON path), `privacy-delete` (customerUpdated to status Deleted),
// `too-large` (over a Platform limit with limits.oversize: dead_letter).

#include <memory>
#include <string_view>
#include <vector>

#include "transforms/api/transform.h"

namespace transforms::capillary {

inline constexpr std::string_view kName = "capillary";

std::unique_ptr<TransformFactory> make_factory();

// The event names the catalogue maps, in reference order.
const std::vector<std::string_view>& mapped_events();

}  // namespace transforms::capillary

#pragma once
// The declarative `mapping` transform: events the built-in catalogue does not cover, mapped to
// XDM ExperienceEvents and Profile records by a YAML description in the route's settings
// (JSON pointers into `data` → dotted XDM paths, typed conversions, constants, defaults,
// conditions, arrays, splits). The language reference is transforms/mapping/README.md.
//
//   - events: [streakLevelAchieved]
//     transform: mapping
//     settings:
//       tenant: acme                                   # + the other shared keys of
//       targets: {experience_event: events}            #   transforms/xdm/settings.h
//       outputs:
//         - kind: experience_event
//           event_type: loyalty.streakLevelAchieved
//           split: /streakData
//           fields:
//             - {to: $tenant.capillary.streakName, from: "@/streakName", type: trim}
//
// Like the catalogue, every output gets identityMap from a customerIdentifiers block;
// ExperienceEvents get `_id` (UUIDv5 of `capillary:{orgId}:{eventId}`, `:{index}` for split
// outputs), `timestamp` and `eventType`; profile records get extSourceSystemAudit.lastUpdatedDate.
//
// Reject reasons: `envelope` (eventId, orgId, createdAt or data missing), `identity` (no
// customer id), `invalid-field` (a value of the wrong JSON type for its conversion, or a
// required field missing; the message names the JSON path, never the value), `too-large` (over
// a Platform limit with limits.oversize: dead_letter), `encoding`.

#include <memory>
#include <string_view>

#include "transforms/api/transform.h"

namespace transforms::mapping {

inline constexpr std::string_view kName = "mapping";

std::unique_ptr<TransformFactory> make_factory();

}  // namespace transforms::mapping

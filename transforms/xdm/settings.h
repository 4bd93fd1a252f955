#pragma once
// Settings every XDM-producing transform shares (the built-in `capillary` catalogue and the
// declarative `mapping` transform): where profile and event outputs go, the tenant object,
// identity namespace symbols, per-org time zones and currencies, and Platform's size limits.
// Parsed once at startup; read-only afterwards and shared by all workers.
//
//   tenant: acme                     # → "_acme": {"capillary": {...}}          (required)
//   targets: {profile: profiles, experience_event: events}   # omit one to turn it off
//   identity:
//     customer_id_format: "{customerId}"     # or "{orgId}:{customerId}"
//     namespaces: {customer_id: capillaryCustomerId, email: Email, phone: Phone,
//                  external_id: capillaryExternalId, card_number: capillaryCardNumber}
//   org_timezones: {50001: "+05:30"}         # date-only values end that day there (default UTC)
//   org_phone_country_codes: {50001: "91"}   # national mobile numbers of that org → +91...
//   default_currency: INR                    # when an event's currencyCode is not ^[A-Z]{3}$
//   org_currencies: {50001: INR}
//   limits: {experience_event_bytes: 10240, profile_bytes: 102400, oversize: send}  # | dead_letter

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "transforms/api/transform.h"

namespace transforms::xdm {

struct IdentityNamespaces {
  std::string customer_id = "capillaryCustomerId";
  std::string email = "Email";
  std::string phone = "Phone";
  std::string external_id = "capillaryExternalId";
  std::string card_number = "capillaryCardNumber";
};

enum class CustomerIdFormat : std::uint8_t { customer_id, org_and_customer_id };
enum class OversizePolicy : std::uint8_t { send, dead_letter };

struct OutputSettings {
  std::string tenant_key;  // "_acme"
  const Target* profile_target = nullptr;
  const Target* event_target = nullptr;
  IdentityNamespaces namespaces;
  CustomerIdFormat customer_id_format = CustomerIdFormat::customer_id;
  std::vector<std::pair<std::int64_t, int>> org_offsets;  // orgId → minutes east of UTC
  std::vector<std::pair<std::int64_t, std::string>> org_phone_codes;  // orgId → "91"
  std::string default_currency;
  std::vector<std::pair<std::int64_t, std::string>> org_currencies;
  std::size_t max_event_bytes = 10 * 1024;     // Platform: ExperienceEvents to Profile
  std::size_t max_profile_bytes = 100 * 1024;  // Platform: profile records
  OversizePolicy oversize = OversizePolicy::send;

  [[nodiscard]] int offset_minutes(std::int64_t org_id) const;
  // The org's calling code for national phone numbers (xdm::normalize_phone); empty: none.
  [[nodiscard]] std::string_view phone_code(std::int64_t org_id) const;
  // The org's configured currency, else default_currency, else empty.
  [[nodiscard]] std::string_view currency(std::int64_t org_id) const;
};

// Reads the shared keys from a route's settings map. Keys it does not know are left for the
// caller: `other_keys` lists the caller's own keys, and any key in neither set is reported as
// unknown. Every problem goes to ctx.diagnostics with line:column, prefixed with `transform`.
// Returns false when there was a problem.
[[nodiscard]] bool parse_output_settings(const FactoryContext& ctx, std::string_view transform,
                                         std::initializer_list<std::string_view> other_keys,
                                         OutputSettings& out);

// Checks the byte limits for one output. Returns an empty string when the output may be
// emitted; otherwise the reject message for the `too-large` reason (policy dead_letter). Always
// counts an oversize warning on `out` (`oversize-profile` / `oversize-experience-event`).
[[nodiscard]] std::string check_size(const OutputSettings& settings, OutputKind kind,
                                     std::size_t bytes, Emitter& out);

}  // namespace transforms::xdm

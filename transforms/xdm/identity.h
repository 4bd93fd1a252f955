#pragma once
// Identities of a Capillary customer and their XDM identityMap (reference/xdm-mapping.md
// section 3): the Capillary customer id is the one primary identity (authenticated); email,
// phone, external id and card numbers are ambiguous secondaries, each only when it passes its
// validity rule. Values that look hashed never go into Email or Phone.
//
// Identities is reused per worker: clear() keeps every buffer's capacity.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "transforms/xdm/settings.h"
#include "transforms/xdm/writer.h"

namespace transforms::xdm {

// 32 or 64 hexadecimal characters (MD5 / SHA-256 renderings).
[[nodiscard]] bool looks_hashed(std::string_view value);
// Trimmed, lower-cased; one `@`, a dot in the domain, no blanks, not hashed. False → `out` empty.
bool normalize_email(std::string_view value, std::string& out);
enum class PhoneCheck : std::uint8_t {
  ok,        // `out` holds +<digits>, E.164
  not_e164,  // digits, but no E.164 number can be made of them safely: omitted
  invalid,   // not a phone number (letters, hashed, empty)
};
// reference/xdm-mapping.md §7.1. Blanks, `-`, `.`, `/`, `(`, `)` are dropped; anything else but
// digits makes it invalid. International form (a leading `+` or `00`): 8-15 digits → `+<digits>`.
// National, with the org's calling code (`country_code`, digits): one leading trunk `0` dropped;
// digits already starting with the code and 11-15 long stand as they are, else the code goes in
// front, accepted at 11-15 digits. National without a code: 11-15 digits → `+<digits>`. Never
// `+0…` (no calling code starts with 0). A
// national number never becomes a wrong international one (`9820054321` is not
// `+9820054321`). Not ok → `out` empty.
PhoneCheck normalize_phone(std::string_view value, std::string_view country_code, std::string& out);
// The warning a transform counts for a phone that is not ok: `phone-not-e164`,
// `identity-hashed` or `identity-invalid-phone`; empty for ok.
[[nodiscard]] std::string_view phone_warning(PhoneCheck check, std::string_view value);
// A customer id from a JSON number's text or a string: decimal digits, `.0` fractions dropped,
// no leading sign; never through a double (ids exceed 2^53).
bool normalize_customer_id(std::string_view value, std::string& out);

struct Identities {
  std::string customer_id;  // decimal digits; required for any output
  std::string email;
  std::string phone;
  std::string external_id;
  std::size_t card_count = 0;
  std::vector<std::string> cards;  // first card_count entries are in use

  void clear();
  void add_card(std::string_view value);  // trimmed, de-duplicated, blanks ignored
  [[nodiscard]] bool has_customer() const { return !customer_id.empty(); }
};

// Writes "identityMap": {...} into the current object. Requires has_customer().
void write_identity_map(Writer& w, const OutputSettings& settings, std::int64_t org_id,
                        const Identities& ids);

// The primary id as configured (`{customerId}` or `{orgId}:{customerId}`), into `out`.
void format_customer_id(const OutputSettings& settings, std::int64_t org_id,
                        std::string_view customer_id, std::string& out);

}  // namespace transforms::xdm

#pragma once
// One pass over a Capillary event's `data` object (simdjson on demand) that captures every field
// the catalogue reads, whatever the event, into flat reusable slots. The writers then read the
// slots in any order. Values are views into the parser's buffers: valid until the next
// capture() on the same Capture.
//
// Type checks are deferred: a slot remembers the JSON type it saw, and the writer that reads it
// decides whether that type is wrong for the field (reason `invalid-field`), so a malformed
// field an event does not use never rejects the event.

#include <simdjson.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transforms/api/json_kind.h"

namespace transforms::capillary {

struct Scalar {
  JsonKind kind = JsonKind::absent;
  std::string_view text;  // string: unescaped content; number: the token as written
  bool truth = false;     // boolean
};

// Reusable vector of T: clear() keeps the elements (and their buffers) for the next event.
template <typename T>
struct Slots {
  std::vector<T> items;
  std::size_t count = 0;
  JsonKind kind = JsonKind::absent;  // the container's own type (array expected)

  void clear() {
    count = 0;
    kind = JsonKind::absent;
  }
  T& next() {
    if (count == items.size()) {
      items.emplace_back();
    }
    T& t = items[count++];
    if constexpr (requires { t.clear(); }) {
      t.clear();
    } else {
      t = T{};
    }
    return t;
  }
  [[nodiscard]] const T* begin() const { return items.data(); }
  [[nodiscard]] const T* end() const { return items.data() + count; }
};

struct CustomerIds {
  JsonKind kind = JsonKind::absent;  // of `customerIdentifiers`
  Scalar customer_id;
  Scalar first_name;
  Scalar last_name;
  Scalar email;
  Scalar mobile;
  Scalar external_id;
  Scalar card_number;
  std::array<Scalar, 32> cards{};  // `cardNumbers[]`: the first 32 (cards_dropped counts the rest)
  std::size_t card_count = 0;
  std::size_t cards_dropped = 0;

  // Back to empty. `cards` past card_count are never read and are reset as they are filled:
  // assigning CustomerIds{} wrote ~900 bytes per event.
  void clear() {
    kind = JsonKind::absent;
    customer_id = first_name = last_name = email = mobile = external_id = card_number = Scalar{};
    card_count = 0;
    cards_dropped = 0;
  }
};

struct Tier {
  Scalar number;
  Scalar name;
};
struct LineItem {
  JsonKind kind = JsonKind::absent;
  Scalar item_code;
  Scalar description;
  Scalar qty;
  Scalar amount;
  Scalar discount;
};
struct PointsBreakup {
  JsonKind kind = JsonKind::absent;
  Scalar points;
  Scalar expiry_at;
};
struct Promotion {
  JsonKind kind = JsonKind::absent;
  Scalar identifier;
  Scalar points;
};
struct ProgramBalance {
  JsonKind kind = JsonKind::absent;
  Scalar program_id;
  Scalar current_points;
};
struct Coupon {
  JsonKind kind = JsonKind::absent;
  Scalar id;
  Scalar code;
  CustomerIds customer;

  void clear() {
    kind = JsonKind::absent;
    id = code = Scalar{};
    customer.clear();
  }
};
struct UpdatedField {
  JsonKind kind = JsonKind::absent;
  Scalar name;
  Scalar current;
};
struct SeriesInfo {
  JsonKind kind = JsonKind::absent;
  Scalar id;
  Scalar description;
  Scalar discount_type;
  Scalar discount_value;
};

// Flat scalar fields of `data`, by slot.
enum class F : std::uint8_t {
  loyalty_type,
  first_name,
  last_name,
  amount,
  bill_number,
  transaction_id,
  delivery_status,
  bill_type,
  line_item_count,
  discount,
  gross_amount,
  currency_code,
  loyalty_program_id,
  program_current_points,
  program_lifetime_points,
  total_points_issued,
  total_points_redeemed,
  redemption_summary_id,
  redeemed_points_currency_value,
  points_expired,
  points_scheduled_for_expiry,
  scheduled_expiry_date,
  total_issued_points_reversed,
  regular_points_reversed,
  promised_points_reversed,
  redeemed_points_reversed,
  previous_tier_number,
  upgraded_tier_number,
  downgraded_tier_number,
  current_tier_number,
  tier_expiry_date,
  tier_expiry_date_in_millis,
  upgrade_type,
  reward_id,
  type,
  redemption_type,
  label,
  group,
  intouch_points,
  badge_id,
  earn_id,
  loyalty_event_id,
  count_  // number of slots
};

struct Capture {
  JsonKind data_kind = JsonKind::absent;
  std::array<Scalar, static_cast<std::size_t>(F::count_)> scalars{};
  std::uint64_t scalars_set = 0;  // bit per slot of `scalars` written since the last reset
  CustomerIds customer;
  JsonKind entity_kind = JsonKind::absent;
  Scalar entity_type;
  Scalar entity_id;
  JsonKind entered_by_kind = JsonKind::absent;
  Scalar store_code;
  Scalar till_code;
  JsonKind program_kind = JsonKind::absent;
  Scalar program_name;
  Slots<Tier> tiers;
  JsonKind activity_kind = JsonKind::absent;
  Scalar bill_id;  // triggeringActivity.identifiers[key = BillId]
  Slots<LineItem> line_items;
  Slots<PointsBreakup> breakup;
  Slots<Promotion> promotions;
  Slots<ProgramBalance> balances;
  Slots<Coupon> coupons;
  SeriesInfo series;  // data.series_info (CouponIssue)
  JsonKind coupon_kind = JsonKind::absent;
  Scalar coupon_code;  // data.coupon (CouponRedeem)
  SeriesInfo coupon_series;
  JsonKind transaction_kind = JsonKind::absent;
  Scalar transaction_number;
  JsonKind status_kind = JsonKind::absent;
  Scalar status_label;  // customerStatus.currentLabel
  Scalar status_text;   // customerStatus when it is a bare string
  Slots<UpdatedField> updated_fields;

  [[nodiscard]] const Scalar& operator[](F f) const { return scalars[static_cast<std::size_t>(f)]; }
};

// Owns the parser and padded scratch for one worker.
class Capturer {
 public:
  // Walks `data` (a value in a document parsed already: EnvelopeReader::data()) into `out`,
  // validating every value, taken or not (transforms::check_value): a simdjson error for
  // anything that is not valid JSON.
  simdjson::error_code capture(simdjson::ondemand::value data, Capture& out);
  // The same over `data_json` (Envelope::data_raw), parsed with this Capturer's own parser.
  simdjson::error_code capture(std::string_view data_json, Capture& out);

 private:
  simdjson::ondemand::parser parser_;
  std::unique_ptr<char[]> scratch_;
  std::size_t capacity_ = 0;
};

}  // namespace transforms::capillary

#include "transforms/capillary/capture.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "transforms/api/json_check.h"
#include "transforms/api/values.h"

namespace transforms::capillary {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;
using simdjson::SUCCESS;

// Keys of `data` with their own handling (nested blocks).
enum class Nested : std::uint8_t {
  none,
  customer_identifiers,
  entity_information,
  entered_by,
  loyalty_program_details,
  triggering_activity,
  line_items,
  regular_points_breakup,
  promotional_points_issued,
  redemption_from_earning_programs,
  coupons,
  series_info,
  coupon,
  transaction,
  customer_status,
  updated_fields,
};

struct KeyEntry {
  std::string_view key;
  F scalar;
  Nested nested;
};

constexpr KeyEntry kKeys[] = {
    {"loyaltyType", F::loyalty_type, Nested::none},
    {"firstName", F::first_name, Nested::none},
    {"lastName", F::last_name, Nested::none},
    {"amount", F::amount, Nested::none},
    {"billNumber", F::bill_number, Nested::none},
    {"transactionId", F::transaction_id, Nested::none},
    {"deliveryStatus", F::delivery_status, Nested::none},
    {"billType", F::bill_type, Nested::none},
    {"lineItemCount", F::line_item_count, Nested::none},
    {"discount", F::discount, Nested::none},
    {"grossAmount", F::gross_amount, Nested::none},
    {"currencyCode", F::currency_code, Nested::none},
    {"loyaltyProgramId", F::loyalty_program_id, Nested::none},
    {"programCurrentPoints", F::program_current_points, Nested::none},
    {"programLifetimePoints", F::program_lifetime_points, Nested::none},
    {"totalPointsIssued", F::total_points_issued, Nested::none},
    {"totalPointsRedeemed", F::total_points_redeemed, Nested::none},
    {"redemptionSummaryId", F::redemption_summary_id, Nested::none},
    {"redeemedPointsCurrencyValue", F::redeemed_points_currency_value, Nested::none},
    {"pointsExpired", F::points_expired, Nested::none},
    {"pointsScheduledForExpiry", F::points_scheduled_for_expiry, Nested::none},
    {"scheduledExpiryDate", F::scheduled_expiry_date, Nested::none},
    {"totalIssuedPointsReversed", F::total_issued_points_reversed, Nested::none},
    {"regularPointsReversed", F::regular_points_reversed, Nested::none},
    {"promisedPointsReversed", F::promised_points_reversed, Nested::none},
    {"redeemedPointsReversed", F::redeemed_points_reversed, Nested::none},
    {"previousTierNumber", F::previous_tier_number, Nested::none},
    {"upgradedTierNumber", F::upgraded_tier_number, Nested::none},
    {"downgradedTierNumber", F::downgraded_tier_number, Nested::none},
    {"currentTierNumber", F::current_tier_number, Nested::none},
    {"tierExpiryDate", F::tier_expiry_date, Nested::none},
    {"tierExpiryDateInMillis", F::tier_expiry_date_in_millis, Nested::none},
    {"upgradeType", F::upgrade_type, Nested::none},
    {"rewardId", F::reward_id, Nested::none},
    {"type", F::type, Nested::none},
    {"redemptionType", F::redemption_type, Nested::none},
    {"label", F::label, Nested::none},
    {"group", F::group, Nested::none},
    {"intouchPoints", F::intouch_points, Nested::none},
    {"badgeId", F::badge_id, Nested::none},
    {"earnId", F::earn_id, Nested::none},
    {"loyaltyEventId", F::loyalty_event_id, Nested::none},
    {"customerIdentifiers", F::count_, Nested::customer_identifiers},
    {"entityInformation", F::count_, Nested::entity_information},
    {"enteredBy", F::count_, Nested::entered_by},
    {"loyaltyProgramDetails", F::count_, Nested::loyalty_program_details},
    {"triggeringActivity", F::count_, Nested::triggering_activity},
    {"lineItems", F::count_, Nested::line_items},
    {"regularPointsBreakup", F::count_, Nested::regular_points_breakup},
    {"promotionalPointsIssued", F::count_, Nested::promotional_points_issued},
    {"redemptionFromEarningPrograms", F::count_, Nested::redemption_from_earning_programs},
    {"coupons", F::count_, Nested::coupons},
    {"series_info", F::count_, Nested::series_info},
    {"coupon", F::count_, Nested::coupon},
    {"transaction", F::count_, Nested::transaction},
    {"customerStatus", F::count_, Nested::customer_status},
    {"updatedFields", F::count_, Nested::updated_fields},
};

// Open-addressing table over kKeys, built once: one hash and usually one compare per key.
class KeyTable {
 public:
  KeyTable() {
    slots_.fill(-1);
    for (std::size_t i = 0; i < std::size(kKeys); ++i) {
      std::size_t h = hash(kKeys[i].key) & kMask;
      while (slots_[h] >= 0) {
        h = (h + 1) & kMask;
      }
      slots_[h] = static_cast<int>(i);
    }
  }
  [[nodiscard]] const KeyEntry* find(std::string_view key) const {
    for (std::size_t h = hash(key) & kMask;; h = (h + 1) & kMask) {
      const int i = slots_[h];
      if (i < 0) {
        return nullptr;
      }
      if (kKeys[static_cast<std::size_t>(i)].key == key) {
        return &kKeys[static_cast<std::size_t>(i)];
      }
    }
  }

 private:
  static constexpr std::size_t kMask = 255;
  static std::size_t hash(std::string_view s) {
    std::size_t h = 14695981039346656037ULL;
    for (const char c : s) {
      h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    }
    return h ^ (h >> 29);
  }
  std::array<int, kMask + 1> slots_{};
};

const KeyTable& key_table() {
  static const KeyTable table;
  return table;
}

#define CB_TRY(expr)            \
  do {                          \
    if (auto e_ = (expr); e_) { \
      return e_;                \
    }                           \
  } while (false)

error_code kind(od::value& v, JsonKind& out) {
  od::json_type t;
  CB_TRY(v.type().get(t));
  out = kind_of(t);
  return SUCCESS;
}

error_code scalar(od::value v, Scalar& out) {
  CB_TRY(kind(v, out.kind));
  switch (out.kind) {
    case JsonKind::string:
      return v.get_string().get(out.text);
    case JsonKind::number:
      out.text = values::trim_right(v.raw_json_token());
      return check_number(out.text);
    case JsonKind::boolean:
      return v.get_bool().get(out.truth);
    default:
      return check_value(v);  // null, object, array: checked, not taken
  }
}

// Calls fn(key, value) for each field of an object value; `kind_out` gets the value's type
// (fn is not called unless it is an object).
template <typename Fn>
error_code for_fields(od::value v, JsonKind& kind_out, Fn&& fn) {
  CB_TRY(kind(v, kind_out));
  if (kind_out != JsonKind::object) {
    return check_value(v);
  }
  od::object object;
  CB_TRY(v.get_object().get(object));
  for (auto item : object) {
    od::field field;
    std::string_view key;
    CB_TRY(std::move(item).get(field));
    CB_TRY(field.unescaped_key().get(key));
    CB_TRY(fn(values::trim(key), field.value()));
  }
  return SUCCESS;
}

// Calls fn(element) for each element of an array value.
template <typename Fn>
error_code for_elements(od::value v, JsonKind& kind_out, Fn&& fn) {
  CB_TRY(kind(v, kind_out));
  if (kind_out != JsonKind::array) {
    return check_value(v);
  }
  od::array array;
  CB_TRY(v.get_array().get(array));
  for (auto item : array) {
    od::value element;
    CB_TRY(item.get(element));
    CB_TRY(fn(element));
  }
  return SUCCESS;
}

error_code customer_ids(od::value v, CustomerIds& out) {
  return for_fields(v, out.kind, [&](std::string_view key, od::value value) -> error_code {
    if (key == "customerId") {
      return scalar(value, out.customer_id);
    }
    if (key == "firstName") {
      return scalar(value, out.first_name);
    }
    if (key == "lastName") {
      return scalar(value, out.last_name);
    }
    if (key == "instore" || key == "Instore") {
      JsonKind k = JsonKind::absent;
      return for_fields(value, k, [&](std::string_view ik, od::value iv) -> error_code {
        if (ik == "email") {
          return scalar(iv, out.email);
        }
        if (ik == "mobile") {
          return scalar(iv, out.mobile);
        }
        if (ik == "externalId") {
          return scalar(iv, out.external_id);
        }
        if (ik == "cardnumber") {
          return scalar(iv, out.card_number);
        }
        if (ik == "cardNumbers") {
          JsonKind ak = JsonKind::absent;
          return for_elements(iv, ak, [&](od::value card) -> error_code {
            if (out.card_count == out.cards.size()) {
              ++out.cards_dropped;
              return check_value(card);
            }
            Scalar& slot = out.cards[out.card_count++];
            slot = Scalar{};
            return scalar(card, slot);
          });
        }
        return check_value(iv);
      });
    }
    return check_value(value);
  });
}

error_code series_info(od::value v, SeriesInfo& out) {
  return for_fields(v, out.kind, [&](std::string_view key, od::value value) -> error_code {
    if (key == "id") {
      return scalar(value, out.id);
    }
    if (key == "description") {
      return scalar(value, out.description);
    }
    if (key == "discount_type") {
      return scalar(value, out.discount_type);
    }
    if (key == "discount_value") {
      return scalar(value, out.discount_value);
    }
    return check_value(value);
  });
}

bool is_bill_id_key(std::string_view key) {
  // `BillId`, `billId`, `bill Id` (reference section 5.3)
  std::size_t j = 0;
  static constexpr std::string_view kWant = "billid";
  for (const char c : key) {
    if (c == ' ') {
      continue;
    }
    const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    if (j == kWant.size() || lower != kWant[j]) {
      return false;
    }
    ++j;
  }
  return j == kWant.size();
}

class Walker {
 public:
  explicit Walker(Capture& out) : out_(out) {}

  error_code field(std::string_view key, od::value value) {
    const KeyEntry* entry = key_table().find(key);
    if (entry == nullptr) {
      return check_value(value);
    }
    if (entry->nested == Nested::none) {
      const auto slot = static_cast<std::size_t>(entry->scalar);
      out_.scalars_set |= std::uint64_t{1} << slot;
      return scalar(value, out_.scalars[slot]);
    }
    switch (entry->nested) {
      case Nested::customer_identifiers:
        return customer_ids(value, out_.customer);
      case Nested::entity_information:
        return for_fields(value, out_.entity_kind, [&](std::string_view k, od::value v) {
          return k == "entityType" ? scalar(v, out_.entity_type)
                 : k == "entityId" ? scalar(v, out_.entity_id)
                                   : check_value(v);
        });
      case Nested::entered_by:
        return for_fields(value, out_.entered_by_kind, [&](std::string_view k, od::value v) {
          if (k != "store" && k != "till") {
            return check_value(v);
          }
          Scalar& code = k == "store" ? out_.store_code : out_.till_code;
          JsonKind ignored = JsonKind::absent;
          return for_fields(v, ignored, [&](std::string_view ck, od::value cv) {
            return ck == "code" ? scalar(cv, code) : check_value(cv);
          });
        });
      case Nested::loyalty_program_details:
        return for_fields(value, out_.program_kind, [&](std::string_view k, od::value v) {
          if (k == "name") {
            return scalar(v, out_.program_name);
          }
          if (k != "tiers") {
            return check_value(v);
          }
          return for_elements(v, out_.tiers.kind, [&](od::value t) {
            Tier& tier = out_.tiers.next();
            JsonKind ignored = JsonKind::absent;
            return for_fields(t, ignored, [&](std::string_view tk, od::value tv) {
              return tk == "tierNumber" ? scalar(tv, tier.number)
                     : tk == "tierName" ? scalar(tv, tier.name)
                                        : check_value(tv);
            });
          });
        });
      case Nested::triggering_activity:
        return for_fields(value, out_.activity_kind, [&](std::string_view k, od::value v) {
          if (k != "identifiers") {
            return check_value(v);
          }
          JsonKind ak = JsonKind::absent;
          return for_elements(v, ak, [&](od::value idv) {
            Scalar key_s;
            Scalar value_s;
            JsonKind ignored = JsonKind::absent;
            CB_TRY(for_fields(idv, ignored, [&](std::string_view ik, od::value iv) {
              return ik == "key"     ? scalar(iv, key_s)
                     : ik == "value" ? scalar(iv, value_s)
                                     : check_value(iv);
            }));
            if (key_s.kind == JsonKind::string && is_bill_id_key(key_s.text) &&
                out_.bill_id.kind == JsonKind::absent) {
              out_.bill_id = value_s;
            }
            return SUCCESS;
          });
        });
      case Nested::line_items:
        return for_elements(value, out_.line_items.kind, [&](od::value v) {
          LineItem& item = out_.line_items.next();
          return for_fields(v, item.kind, [&](std::string_view k, od::value iv) {
            return k == "itemCode"      ? scalar(iv, item.item_code)
                   : k == "description" ? scalar(iv, item.description)
                   : k == "qty"         ? scalar(iv, item.qty)
                   : k == "amount"      ? scalar(iv, item.amount)
                   : k == "discount"    ? scalar(iv, item.discount)
                                        : check_value(iv);
          });
        });
      case Nested::regular_points_breakup:
        return for_elements(value, out_.breakup.kind, [&](od::value v) {
          PointsBreakup& b = out_.breakup.next();
          return for_fields(v, b.kind, [&](std::string_view k, od::value iv) {
            return k == "points"     ? scalar(iv, b.points)
                   : k == "expiryAt" ? scalar(iv, b.expiry_at)
                                     : check_value(iv);
          });
        });
      case Nested::promotional_points_issued:
        return for_elements(value, out_.promotions.kind, [&](od::value v) {
          Promotion& p = out_.promotions.next();
          return for_fields(v, p.kind, [&](std::string_view k, od::value iv) {
            return k == "promotionIdentifier" ? scalar(iv, p.identifier)
                   : k == "promotionPoints"   ? scalar(iv, p.points)
                                              : check_value(iv);
          });
        });
      case Nested::redemption_from_earning_programs:
        return for_elements(value, out_.balances.kind, [&](od::value v) {
          ProgramBalance& b = out_.balances.next();
          return for_fields(v, b.kind, [&](std::string_view k, od::value iv) {
            return k == "programId"              ? scalar(iv, b.program_id)
                   : k == "programCurrentPoints" ? scalar(iv, b.current_points)
                                                 : check_value(iv);
          });
        });
      case Nested::coupons:
        return for_elements(value, out_.coupons.kind, [&](od::value v) {
          Coupon& c = out_.coupons.next();
          return for_fields(v, c.kind, [&](std::string_view k, od::value iv) {
            return k == "id"                    ? scalar(iv, c.id)
                   : k == "code"                ? scalar(iv, c.code)
                   : k == "customerIdentifiers" ? customer_ids(iv, c.customer)
                                                : check_value(iv);
          });
        });
      case Nested::series_info:
        return series_info(value, out_.series);
      case Nested::coupon:
        return for_fields(value, out_.coupon_kind, [&](std::string_view k, od::value v) {
          return k == "code"          ? scalar(v, out_.coupon_code)
                 : k == "series_info" ? series_info(v, out_.coupon_series)
                                      : check_value(v);
        });
      case Nested::transaction:
        return for_fields(value, out_.transaction_kind, [&](std::string_view k, od::value v) {
          return k == "number" ? scalar(v, out_.transaction_number) : check_value(v);
        });
      case Nested::customer_status:
        if (JsonKind k = JsonKind::absent; kind(value, k) == SUCCESS && k == JsonKind::string) {
          out_.status_kind = k;
          return scalar(value, out_.status_text);
        }
        return for_fields(value, out_.status_kind, [&](std::string_view k, od::value v) {
          return k == "currentLabel" ? scalar(v, out_.status_label) : check_value(v);
        });
      case Nested::updated_fields:
        return for_elements(value, out_.updated_fields.kind, [&](od::value v) {
          UpdatedField& f = out_.updated_fields.next();
          return for_fields(v, f.kind, [&](std::string_view k, od::value iv) {
            return k == "fieldName"      ? scalar(iv, f.name)
                   : k == "currentValue" ? scalar(iv, f.current)
                                         : check_value(iv);
          });
        });
      case Nested::none:
        break;
    }
    return SUCCESS;
  }

 private:
  Capture& out_;
};

void reset(Capture& c) {
  c.data_kind = JsonKind::absent;
  // Only the slots written: filling all of them was the largest part of a reset.
  static_assert(static_cast<std::size_t>(F::count_) <= 64);
  for (std::uint64_t set = c.scalars_set; set != 0; set &= set - 1) {
    c.scalars[static_cast<std::size_t>(std::countr_zero(set))] = Scalar{};
  }
  c.scalars_set = 0;
  c.customer.clear();
  c.entity_kind = c.entered_by_kind = c.program_kind = c.activity_kind = JsonKind::absent;
  c.entity_type = c.entity_id = c.store_code = c.till_code = c.program_name = c.bill_id = {};
  c.tiers.clear();
  c.line_items.clear();
  c.breakup.clear();
  c.promotions.clear();
  c.balances.clear();
  c.coupons.clear();
  c.series = SeriesInfo{};
  c.coupon_kind = c.transaction_kind = c.status_kind = JsonKind::absent;
  c.coupon_code = c.transaction_number = c.status_label = c.status_text = {};
  c.coupon_series = SeriesInfo{};
  c.updated_fields.clear();
}

}  // namespace

error_code Capturer::capture(std::string_view data_json, Capture& out) {
  const std::size_t needed = data_json.size() + simdjson::SIMDJSON_PADDING;
  if (needed > capacity_) {
    capacity_ = std::max(needed, capacity_ + capacity_ / 2);
    scratch_.reset(new char[capacity_]);
  }
  std::memcpy(scratch_.get(), data_json.data(), data_json.size());
  std::memset(scratch_.get() + data_json.size(), 0, simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (auto e = parser_.iterate(scratch_.get(), data_json.size(), capacity_).get(doc); e) {
    reset(out);
    return e;
  }
  od::json_type t;
  if (auto e = doc.type().get(t); e) {
    reset(out);
    return e;
  }
  if (t != od::json_type::object) {
    // On demand hands out no value for a scalar document: only its kind matters (the event
    // is rejected for it), and the reader that cut data_raw validated it.
    reset(out);
    out.data_kind = kind_of(t);
    return SUCCESS;
  }
  od::value value;
  if (auto e = doc.get_value().get(value); e) {
    reset(out);
    return e;
  }
  CB_TRY(capture(value, out));
  // Anything after the value is not JSON.
  const char* rest = nullptr;
  return doc.current_location().get(rest) ? SUCCESS : simdjson::TRAILING_CONTENT;
}

error_code Capturer::capture(od::value data, Capture& out) {
  reset(out);
  od::json_type t;
  CB_TRY(data.type().get(t));
  out.data_kind = kind_of(t);
  if (out.data_kind != JsonKind::object) {
    return check_value(data);
  }
  od::object object;
  CB_TRY(data.get_object().get(object));
  Walker walker(out);
  for (auto item : object) {
    od::field field;
    std::string_view key;
    CB_TRY(std::move(item).get(field));
    CB_TRY(field.unescaped_key().get(key));
    CB_TRY(walker.field(values::trim(key), field.value()));
  }
  return SUCCESS;
}

#undef CB_TRY

}  // namespace transforms::capillary

#include "transforms/capillary/capillary.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <unordered_map>

#include "transforms/api/envelope.h"
#include "transforms/api/values.h"
#include "transforms/capillary/capture.h"
#include "transforms/xdm/event.h"
#include "transforms/xdm/identity.h"
#include "transforms/xdm/settings.h"
#include "transforms/xdm/uuid.h"
#include "transforms/xdm/writer.h"

namespace transforms::capillary {
namespace {

using bridge::core::reject;
using xdm::OutputSettings;

// A number read from a number or a numeric string.
struct Number {
  std::string_view json;  // valid JSON number text to splice; empty when only `value` is usable
  double value = 0;
};

class CapillaryTransform;
using Handler = void (CapillaryTransform::*)();

struct EventSpec {
  Handler handler;
};

class CapillaryTransform final : public Transform {
 public:
  explicit CapillaryTransform(std::shared_ptr<const OutputSettings> settings)
      : s_(std::move(settings)) {}

  Result<void> apply(const Input& input, Emitter& out) override;
  [[nodiscard]] bool checks_data() const override { return true; }

  // Handlers, one per catalogue row (reference/xdm-mapping.md sections 4 and 5).
  void customer_added();
  void customer_updated();
  void transaction();
  void points_issued();
  void points_redeemed();
  void points_expired();
  void points_expiry_reminder();
  void points_reversed();
  void tier_changed();
  void reward_issued();
  void coupon_issue();
  void coupon_redeem();
  void badge_earned();

 private:
  // --- failure state: the first problem wins ---
  void fail(std::string_view reason, std::string message) { ev_.fail(reason, std::move(message)); }
  void wrong_type(std::string_view path, JsonKind kind, std::string_view expected) {
    fail("invalid-field", fmt::format("{}: expected {}, got {}", path, expected, describe(kind)));
  }

  // --- field readers (they flag wrong types as invalid-field) ---
  // Text as written (display text); blank → empty. Numbers are accepted as their text.
  std::string_view text(const Scalar& v, std::string_view path) {
    switch (v.kind) {
      case JsonKind::string:
        return values::trim(v.text).empty() ? std::string_view{} : v.text;
      case JsonKind::number:
        return v.text;
      case JsonKind::absent:
      case JsonKind::null:
        return {};
      default:
        wrong_type(path, v.kind, "a string");
        return {};
    }
  }
  // Codes and ids: trimmed.
  std::string_view code(const Scalar& v, std::string_view path) {
    return values::trim(text(v, path));
  }
  std::optional<Number> number(const Scalar& v, std::string_view path) {
    std::string_view t;
    if (v.kind == JsonKind::number) {
      t = v.text;
    } else if (v.kind == JsonKind::string) {
      t = values::trim(v.text);
      if (t.empty()) {
        return std::nullopt;
      }
    } else if (v.kind == JsonKind::absent || v.kind == JsonKind::null) {
      return std::nullopt;
    } else {
      wrong_type(path, v.kind, "a number or a numeric string");
      return std::nullopt;
    }
    // Plain decimals are spliced as written (`89000.0` stays), the double only on demand
    // (value_of). Exponent forms and very long numbers are rewritten from the double: `0e400`
    // and `1e400` are JSON, but strict parsers (and Platform) refuse them.
    if (values::is_json_number(t) && t.size() <= 20 &&
        t.find_first_of("eE") == std::string_view::npos) {
      return Number{t, 0};
    }
    const auto d = values::to_double(t);
    if (!d) {
      fail("invalid-field", fmt::format("{}: not a number", path));
      return std::nullopt;
    }
    return Number{{}, *d};
  }
  static double value_of(const Number& n) {
    return n.json.empty() ? n.value : values::to_double(n.json).value_or(0);
  }
  // An id XDM types as a string: integers keep their exact digits (`2649.0` → "2649").
  std::string_view id(const Scalar& v, std::string_view path, std::string& buf) {
    const std::string_view t = code(v, path);
    if (t.empty()) {
      return {};
    }
    // A number keeps its exact digits (`2649.0` → "2649"); a string id is opaque ("0042" stays).
    if (v.kind == JsonKind::number && xdm::normalize_customer_id(t, buf)) {
      return buf;
    }
    return t;
  }

  // --- writers ---
  void put_number(std::string_view key, const Scalar& v, std::string_view path) {
    if (const auto n = number(v, path)) {
      if (!n->json.empty()) {
        w_.number_text(key, n->json);
      } else {
        w_.number(key, n->value);
      }
    }
  }
  void put_text(std::string_view key, const Scalar& v, std::string_view path) {
    w_.string(key, text(v, path));
  }
  void put_code(std::string_view key, const Scalar& v, std::string_view path) {
    w_.string(key, code(v, path));
  }
  void put_id(std::string_view key, const Scalar& v, std::string_view path) {
    w_.string(key, id(v, path, id_buf_));
  }
  // A time field: epoch (ms or s, number or numeric string), a date (end of that day in the
  // org's time zone) or an ISO date-time with offset. Unparseable → left out, warning counted.
  // Returns whether a time was written.
  bool put_time(std::string_view key, const Scalar& v, std::string_view path) {
    std::string_view t;
    if (v.kind == JsonKind::number || v.kind == JsonKind::string) {
      t = values::trim(v.text);
    } else if (v.kind != JsonKind::absent && v.kind != JsonKind::null) {
      wrong_type(path, v.kind, "a time (epoch number or date string)");
      return false;
    }
    if (t.empty()) {
      return false;
    }
    char buf[values::kMaxTimeText];
    std::size_t n = 0;
    if (values::is_json_number(t)) {
      if (const auto ms = values::epoch_ms_from_number(t)) {
        n = values::format_utc_ms(*ms, buf);
      }
    } else if (const auto date = values::parse_date(t)) {
      n = values::format_end_of_day(*date, ev_.offset_minutes(), buf);
    } else if (const auto instant = values::parse_iso_instant(t)) {
      n = values::format_instant(*instant, buf);
    }
    if (n == 0) {
      ev_.out().warning("unparseable-time");
      return false;
    }
    w_.string(key, std::string_view(buf, n));
    return true;
  }
  void put_created_at(std::string_view key) { w_.string(key, ev_.created()); }

  // A block the handler reads must be an object (or absent / null); arrays likewise.
  bool object_block(JsonKind k, std::string_view path) {
    if (k != JsonKind::absent && k != JsonKind::null && k != JsonKind::object) {
      wrong_type(path, k, "an object");
      return false;
    }
    return true;
  }
  bool array_block(JsonKind k, std::string_view path) {
    if (k != JsonKind::absent && k != JsonKind::null && k != JsonKind::array) {
      wrong_type(path, k, "an array");
      return false;
    }
    return true;
  }

  // --- identities ---
  // Fills ids_ from a customerIdentifiers block (entityInformation.entityId of a USER entity is
  // the fallback customer id). Fails with `identity` when there is no usable customer id.
  bool resolve_customer(const CustomerIds& c, std::string_view path);

  // --- document skeletons ---
  void begin_event(std::string_view event_type, int split_index);
  void begin_tenant();
  void end_tenant() {
    w_.end_object();
    w_.end_object();
  }
  void finish(OutputKind kind);
  void begin_profile();  // identityMap; the caller adds person/contact fields, then loyalty
  void begin_loyalty();  // loyalty.{loyaltyID, program}; the caller adds the rest
  void end_profile();    // closes loyalty, adds extSourceSystemAudit, finishes
  [[nodiscard]] bool want_event() const { return s_->event_target != nullptr; }
  [[nodiscard]] bool want_profile() const { return s_->profile_target != nullptr; }

  // Name of tier `number` in loyaltyProgramDetails.tiers[], else the number as text.
  std::string_view tier_name(const Scalar& number, std::string_view path);
  void put_tier_expiry();

  void transaction_body(bool purchase);
  void resolve_currency();  // into currency_buf_, once per event

  std::shared_ptr<const OutputSettings> s_;
  Capturer capturer_;
  Capture cap_;
  xdm::Writer w_;
  xdm::Identities ids_;
  xdm::EventState ev_;

  std::string id_buf_;
  std::string id_buf2_;
  std::string lower_buf_;
  std::string currency_buf_;
  std::string email_buf_;
  std::string phone_buf_;
  std::string phone_digits_;
};

const std::unordered_map<std::string_view, EventSpec>& catalogue() {
  static const std::unordered_map<std::string_view, EventSpec> table = {
      {"customerAdded", {&CapillaryTransform::customer_added}},
      {"customerUpdated", {&CapillaryTransform::customer_updated}},
      {"transactionAdded", {&CapillaryTransform::transaction}},
      {"transactionUpdated", {&CapillaryTransform::transaction}},
      {"pointsIssued", {&CapillaryTransform::points_issued}},
      {"pointsRedeemed", {&CapillaryTransform::points_redeemed}},
      {"pointsExpired", {&CapillaryTransform::points_expired}},
      {"pointsExpiryReminder", {&CapillaryTransform::points_expiry_reminder}},
      {"issuedPointsReversed", {&CapillaryTransform::points_reversed}},
      {"redeemedPointsReversed", {&CapillaryTransform::points_reversed}},
      {"tierUpgraded", {&CapillaryTransform::tier_changed}},
      {"tierDowngraded", {&CapillaryTransform::tier_changed}},
      {"tierRenewed", {&CapillaryTransform::tier_changed}},
      {"rewardIssued", {&CapillaryTransform::reward_issued}},
      {"CouponIssue", {&CapillaryTransform::coupon_issue}},
      {"CouponRedeem", {&CapillaryTransform::coupon_redeem}},
      {"badgeEarned", {&CapillaryTransform::badge_earned}},
  };
  return table;
}

Result<void> CapillaryTransform::apply(const Input& input, Emitter& out) {
  const Envelope& env = input.envelope;
  // `data` first, validating all of it (checks_data): broken JSON is `malformed-json` before
  // anything else is decided.
  if (auto captured = capture_data(input, [&](auto data) { return capturer_.capture(data, cap_); });
      !captured) {
    return captured;
  }
  const auto& table = catalogue();
  const auto spec = table.find(env.event_name);
  if (spec == table.end()) {
    return reject("unmapped", fmt::format("event '{}' is not in the Capillary catalogue; map it "
                                          "with a `mapping` route",
                                          env.event_name));
  }
  if (auto started = ev_.begin(env, *s_, out); !started) {
    return started;
  }
  if (cap_.data_kind != JsonKind::object) {
    return reject("envelope", fmt::format("data is {}, not an object", describe(cap_.data_kind)));
  }

  (this->*(spec->second.handler))();
  if (ev_.failed()) {
    return ev_.result();
  }
  ev_.emit_all(ids_.customer_id);
  return {};
}

bool CapillaryTransform::resolve_customer(const CustomerIds& c, std::string_view path) {
  ids_.clear();
  const bool coupon = path.starts_with("data.coupons");
  if (!object_block(cap_.entity_kind, "data.entityInformation")) {
    return false;
  }
  if (c.kind != JsonKind::absent && c.kind != JsonKind::object && c.kind != JsonKind::null) {
    wrong_type(path, c.kind, "an object");
    return false;
  }
  const Scalar* customer = &c.customer_id;
  const bool blank_id = customer->kind == JsonKind::string && values::trim(customer->text).empty();
  if ((customer->kind == JsonKind::absent || customer->kind == JsonKind::null || blank_id) &&
      cap_.entity_type.kind == JsonKind::string &&
      values::iequals(values::trim(cap_.entity_type.text), "USER")) {
    customer = &cap_.entity_id;
  }
  if (customer->kind == JsonKind::object || customer->kind == JsonKind::array ||
      customer->kind == JsonKind::boolean) {
    fail("identity", fmt::format("{}.customerId is {}, not an id", path, describe(customer->kind)));
    return false;
  }
  const std::string_view raw = values::trim(customer->text);
  if (customer->kind == JsonKind::absent || customer->kind == JsonKind::null || raw.empty()) {
    fail("identity", fmt::format("no customer id: {}.customerId is missing (and there is no USER "
                                 "entityInformation.entityId)",
                                 path));
    return false;
  }
  if (!xdm::normalize_customer_id(raw, ids_.customer_id)) {
    fail("identity", fmt::format("{}.customerId is not a positive integer id", path));
    return false;
  }
  if (const std::string_view email =
          code(c.email, coupon ? "data.coupons[].customerIdentifiers.instore.email"
                               : "data.customerIdentifiers.instore.email");
      !email.empty() && !xdm::normalize_email(email, ids_.email)) {
    ev_.out().warning(xdm::looks_hashed(email) ? "identity-hashed" : "identity-invalid-email");
  }
  std::string_view phone =
      code(c.mobile, coupon ? "data.coupons[].customerIdentifiers.instore.mobile"
                            : "data.customerIdentifiers.instore.mobile");
  if (c.mobile.kind == JsonKind::number && !phone.empty()) {
    // `919300000020.0`: an integer rendered as a double. Its digits, not its `.0`.
    phone = xdm::normalize_customer_id(phone, phone_digits_) ? std::string_view(phone_digits_)
                                                             : std::string_view("invalid");
  }
  if (!phone.empty()) {
    const auto check =
        xdm::normalize_phone(phone, s_->phone_code(ev_.envelope().org_id), ids_.phone);
    if (check != xdm::PhoneCheck::ok) {
      ev_.out().warning(xdm::phone_warning(check, phone));
    }
  }
  ids_.external_id.assign(
      code(c.external_id, coupon ? "data.coupons[].customerIdentifiers.instore.externalId"
                                 : "data.customerIdentifiers.instore.externalId"));
  ids_.add_card(code(c.card_number, coupon ? "data.coupons[].customerIdentifiers.instore.cardnumber"
                                           : "data.customerIdentifiers.instore.cardnumber"));
  if (c.cards_dropped > 0) {
    ev_.out().warning("identity-cards-dropped");  // more than 32 cardNumbers: the rest left out
  }
  for (std::size_t i = 0; i < c.card_count; ++i) {
    ids_.add_card(code(c.cards[i], coupon
                                       ? "data.coupons[].customerIdentifiers.instore.cardNumbers[]"
                                       : "data.customerIdentifiers.instore.cardNumbers[]"));
  }
  return !ev_.failed();
}

void CapillaryTransform::begin_event(std::string_view event_type, int split_index) {
  w_.reset();
  w_.begin_object();
  if (split_index < 0) {
    ev_.write_id(w_);
  } else {
    char index_buf[16];
    const auto r = fmt::format_to_n(index_buf, sizeof(index_buf), ":{}", split_index);
    ev_.write_id(w_, std::string_view(index_buf, r.size));
  }
  put_created_at("timestamp");
  w_.string("eventType", event_type);
  xdm::write_identity_map(w_, *s_, ev_.envelope().org_id, ids_);
}

void CapillaryTransform::begin_tenant() {
  w_.begin_object(s_->tenant_key);
  w_.begin_object("capillary");
  w_.integer("orgId", ev_.envelope().org_id);
  w_.string("eventId", ev_.envelope().event_id);
  w_.string("eventName", ev_.envelope().event_name);
  w_.string("refId", ev_.envelope().ref_id);
  w_.string("apiRequestId", ev_.envelope().api_request_id);
  const std::string_view loyalty_event_id =
      !ev_.envelope().loyalty_event_id.empty()
          ? ev_.envelope().loyalty_event_id
          : code(cap_[F::loyalty_event_id], "data.loyaltyEventId");
  w_.string("loyaltyEventId", loyalty_event_id);
}

void CapillaryTransform::finish(OutputKind kind) {
  w_.end_object();
  ev_.keep(kind, kind == OutputKind::profile ? s_->profile_target : s_->event_target, w_);
}

void CapillaryTransform::begin_profile() {
  w_.reset();
  w_.begin_object();
  xdm::write_identity_map(w_, *s_, ev_.envelope().org_id, ids_);
}

void CapillaryTransform::begin_loyalty() {
  object_block(cap_.program_kind, "data.loyaltyProgramDetails");  // fails the event if wrong
  w_.begin_object("loyalty");
  w_.begin_array("loyaltyID");
  w_.string(ids_.customer_id);
  w_.end_array();
  put_text("program", cap_.program_name, "data.loyaltyProgramDetails.name");
}

void CapillaryTransform::end_profile() {
  w_.end_object();  // loyalty
  w_.begin_object("extSourceSystemAudit");
  put_created_at("lastUpdatedDate");
  w_.end_object();
  finish(OutputKind::profile);
}

std::string_view CapillaryTransform::tier_name(const Scalar& number, std::string_view path) {
  const std::string_view want = code(number, path);
  if (want.empty()) {
    return {};
  }
  const auto want_int = values::to_integer(want);
  for (const Tier& t : cap_.tiers) {
    const std::string_view have = code(t.number, "data.loyaltyProgramDetails.tiers[].tierNumber");
    if (have == want ||
        (want_int && values::is_json_number(have) && values::to_integer(have) == want_int)) {
      const std::string_view name = text(t.name, "data.loyaltyProgramDetails.tiers[].tierName");
      if (!name.empty()) {
        return name;
      }
    }
  }
  return id(number, path, id_buf2_);
}

void CapillaryTransform::put_tier_expiry() {
  // The ...InMillis twin wins when it parses; otherwise the date (end of day, org time zone).
  const Scalar& millis = cap_[F::tier_expiry_date_in_millis];
  const bool has_millis = millis.kind == JsonKind::number ||
                          (millis.kind == JsonKind::string && !values::trim(millis.text).empty());
  if (!has_millis || !put_time("tierExpiryDate", millis, "data.tierExpiryDateInMillis")) {
    put_time("tierExpiryDate", cap_[F::tier_expiry_date], "data.tierExpiryDate");
  }
}

void CapillaryTransform::resolve_currency() {
  const std::string_view raw = code(cap_[F::currency_code], "data.currencyCode");
  currency_buf_.clear();
  for (const char c : raw) {
    currency_buf_.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  const bool valid =
      currency_buf_.size() == 3 && std::all_of(currency_buf_.begin(), currency_buf_.end(),
                                               [](char c) { return c >= 'A' && c <= 'Z'; });
  if (!valid) {
    if (!raw.empty()) {
      ev_.out().warning("invalid-currency");
    }
    currency_buf_.assign(s_->currency(ev_.envelope().org_id));
  }
}

// ---------------------------------------------------------------- customers

void CapillaryTransform::customer_added() {
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers") ||
      !object_block(cap_.entered_by_kind, "data.enteredBy")) {
    return;
  }
  if (want_event()) {
    begin_event("loyalty.customerRegistered", -1);
    w_.begin_object("commerce");
    w_.begin_object("commerceScope");
    put_code("storeCode", cap_.store_code, "data.enteredBy.store.code");
    w_.end_object();
    w_.end_object();
    begin_tenant();
    end_tenant();
    finish(OutputKind::experience_event);
  }
  if (want_profile()) {
    begin_profile();
    std::string_view first = text(cap_[F::first_name], "data.firstName");
    std::string_view last = text(cap_[F::last_name], "data.lastName");
    if (first.empty()) {
      first = text(cap_.customer.first_name, "data.customerIdentifiers.firstName");
    }
    if (last.empty()) {
      last = text(cap_.customer.last_name, "data.customerIdentifiers.lastName");
    }
    w_.begin_object("person");
    w_.begin_object("name");
    w_.string("firstName", first);
    w_.string("lastName", last);
    w_.end_object();
    w_.end_object();
    w_.begin_object("personalEmail");
    w_.string("address", ids_.email);
    w_.end_object();
    w_.begin_object("mobilePhone");
    w_.string("number", ids_.phone);
    w_.end_object();
    begin_loyalty();
    put_created_at("joinDate");
    if (values::iequals(code(cap_[F::loyalty_type], "data.loyaltyType"), "LOYALTY")) {
      w_.string("status", "active");
    }
    end_profile();
  }
}

void CapillaryTransform::customer_updated() {
  // A deletion is honoured whatever shape it arrives in (`customerStatus: "Deleted"`, a label
  // with blanks): it must reach the privacy outcome, never the bad-input pile.
  const std::string_view label =
      cap_.status_label.kind == JsonKind::string  ? values::trim(cap_.status_label.text)
      : cap_.status_text.kind == JsonKind::string ? values::trim(cap_.status_text.text)
                                                  : std::string_view{};
  if (!values::iequals(label, "Deleted")) {
    if (cap_.status_kind != JsonKind::absent && cap_.status_kind != JsonKind::object &&
        cap_.status_kind != JsonKind::null) {
      wrong_type("data.customerStatus", cap_.status_kind, "an object");
      return;
    }
    static_cast<void>(code(cap_.status_label, "data.customerStatus.currentLabel"));
    if (ev_.failed()) {
      return;
    }
  }
  if (values::iequals(label, "Deleted")) {
    fail("privacy-delete",
         "customerUpdated with customerStatus.currentLabel Deleted: no profile "
         "data is sent; run a Platform privacy delete job for this customer");
    return;
  }
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers")) {
    return;
  }
  if (cap_.updated_fields.kind != JsonKind::absent && cap_.updated_fields.kind != JsonKind::array &&
      cap_.updated_fields.kind != JsonKind::null) {
    wrong_type("data.updatedFields", cap_.updated_fields.kind, "an array");
    return;
  }
  if (want_event()) {
    begin_event("loyalty.profileUpdated", -1);
    begin_tenant();
    w_.begin_array("changedFields");
    for (const UpdatedField& f : cap_.updated_fields) {
      w_.string(code(f.name, "data.updatedFields[].fieldName"));
    }
    w_.end_array();
    end_tenant();
    finish(OutputKind::experience_event);
  }
  if (want_profile()) {
    std::string_view first;
    std::string_view last;
    std::string& email = email_buf_;
    std::string& phone = phone_buf_;
    email.clear();
    phone.clear();
    for (const UpdatedField& f : cap_.updated_fields) {
      if (f.kind != JsonKind::object) {
        continue;
      }
      const std::string_view name = code(f.name, "data.updatedFields[].fieldName");
      const std::string_view value = text(f.current, "data.updatedFields[].currentValue");
      if (values::iequals(name, "firstname")) {
        first = value;
      } else if (values::iequals(name, "lastname")) {
        last = value;
      } else if (values::iequals(name, "email") && !value.empty() &&
                 !xdm::normalize_email(value, email)) {
        ev_.out().warning(xdm::looks_hashed(value) ? "identity-hashed" : "identity-invalid-email");
      } else if (values::iequals(name, "mobile") && !value.empty()) {
        const auto check =
            xdm::normalize_phone(value, s_->phone_code(ev_.envelope().org_id), phone);
        if (check != xdm::PhoneCheck::ok) {
          ev_.out().warning(xdm::phone_warning(check, value));
        }
      }
    }
    begin_profile();
    w_.begin_object("person");
    w_.begin_object("name");
    w_.string("firstName", first);
    w_.string("lastName", last);
    w_.end_object();
    w_.end_object();
    w_.begin_object("personalEmail");
    w_.string("address", email);
    w_.end_object();
    w_.begin_object("mobilePhone");
    w_.string("number", phone);
    w_.end_object();
    begin_loyalty();
    lower_buf_.clear();
    for (const char c : label) {
      lower_buf_.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    w_.string("status", lower_buf_);
    end_profile();
  }
}

// ---------------------------------------------------------------- transactions

void CapillaryTransform::transaction_body(bool purchase) {
  w_.begin_object("commerce");
  if (purchase) {
    w_.begin_object("purchases");
    w_.integer("value", 1);
    w_.end_object();
  }
  w_.begin_object("order");
  put_id("purchaseID", cap_[F::transaction_id], "data.transactionId");
  put_code("purchaseOrderNumber", cap_[F::bill_number], "data.billNumber");
  put_number("priceTotal", cap_[F::amount], "data.amount");
  put_number("discountAmount", cap_[F::discount], "data.discount");
  resolve_currency();
  w_.string("currencyCode", currency_buf_);
  w_.end_object();
  w_.begin_object("commerceScope");
  put_code("storeCode", cap_.store_code, "data.enteredBy.store.code");
  w_.end_object();
  w_.end_object();

  if (cap_.line_items.kind != JsonKind::absent && cap_.line_items.kind != JsonKind::array &&
      cap_.line_items.kind != JsonKind::null) {
    wrong_type("data.lineItems", cap_.line_items.kind, "an array");
    return;
  }
  bool fractional = false;
  w_.begin_array("productListItems");
  std::size_t index = 0;
  for (const LineItem& item : cap_.line_items) {
    if (item.kind != JsonKind::object) {
      wrong_type(fmt::format("data.lineItems[{}]", index), item.kind, "an object");
      return;
    }
    const std::string_view sku = code(item.item_code, "data.lineItems[].itemCode");
    if (sku.empty()) {
      ev_.out().warning("line-item-without-sku");  // XDM requires SKU: the item is left out
      ++index;
      continue;
    }
    w_.begin_object();
    w_.string("SKU", sku);
    put_text("name", item.description, "data.lineItems[].description");
    if (const auto q = number(item.qty, "data.lineItems[].qty")) {
      const double qty = value_of(*q);
      if (std::fabs(qty) < 9.0e15) {
        const double up = std::ceil(qty);
        fractional = fractional || up != qty;
        w_.integer("quantity", static_cast<std::int64_t>(up));
      } else {
        fail("invalid-field", fmt::format("data.lineItems[{}].qty: out of range", index));
      }
    }
    put_number("priceTotal", item.amount, "data.lineItems[].amount");
    put_number("discountAmount", item.discount, "data.lineItems[].discount");
    w_.string("currencyCode", currency_buf_);
    w_.end_object();
    ++index;
  }
  w_.end_array();

  begin_tenant();
  put_number("grossAmount", cap_[F::gross_amount], "data.grossAmount");
  put_code("billType", cap_[F::bill_type], "data.billType");
  put_code("deliveryStatus", cap_[F::delivery_status], "data.deliveryStatus");
  put_code("tillCode", cap_.till_code, "data.enteredBy.till.code");
  put_number("lineItemCount", cap_[F::line_item_count], "data.lineItemCount");
  if (fractional) {
    // XDM quantity is an integer: the exact quantities travel here, by SKU.
    w_.begin_array("lineItemQty");
    for (const LineItem& item : cap_.line_items) {
      const std::string_view sku = code(item.item_code, "data.lineItems[].itemCode");
      const auto q = number(item.qty, "data.lineItems[].qty");
      if (sku.empty() || !q) {
        continue;
      }
      w_.begin_object();
      w_.string("SKU", sku);
      if (!q->json.empty()) {
        w_.number_text("qty", q->json);
      } else {
        w_.number("qty", q->value);
      }
      w_.end_object();
    }
    w_.end_array();
  }
  end_tenant();
}

void CapillaryTransform::transaction() {
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers") || !want_event() ||
      !object_block(cap_.entered_by_kind, "data.enteredBy")) {
    return;
  }
  const std::string_view bill_type = code(cap_[F::bill_type], "data.billType");
  std::string_view event_type;
  bool purchase = false;
  if (ev_.envelope().event_name == "transactionUpdated") {
    event_type = values::iequals(code(cap_[F::delivery_status], "data.deliveryStatus"), "SHIPPED")
                     ? "commerce.backofficeOrderItemsShipped"
                     : "commerce.orderUpdated";
  } else if (values::iequals(bill_type, "RETURN")) {
    event_type = "commerce.backofficeCreditMemoIssued";
  } else {
    // Every other bill type is a purchase, unknown ones included (NOT_INTERESTED): revenue is
    // never undercounted for a type Capillary adds. The raw billType stays in the tenant object
    // (reference/xdm-mapping.md §7.3).
    event_type = "commerce.purchases";
    purchase = true;
  }
  begin_event(event_type, -1);
  transaction_body(purchase);
  finish(OutputKind::experience_event);
}

// ---------------------------------------------------------------- points

void CapillaryTransform::points_issued() {
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers") ||
      !array_block(cap_.promotions.kind, "data.promotionalPointsIssued") ||
      !object_block(cap_.activity_kind, "data.triggeringActivity") ||
      !array_block(cap_.breakup.kind, "data.regularPointsBreakup")) {
    return;
  }
  const std::string_view program_id =
      id(cap_[F::loyalty_program_id], "data.loyaltyProgramId", id_buf2_);
  if (want_event()) {
    begin_event("loyalty.pointsIssued", -1);
    w_.begin_object("loyalty");
    w_.begin_array("pointsGained");
    w_.begin_object();
    put_number("value", cap_[F::total_points_issued], "data.totalPointsIssued");
    w_.string("loyaltyProgramId", program_id);
    put_id("transactionId", cap_.bill_id, "data.triggeringActivity.identifiers[BillId].value");
    w_.end_object();
    for (const Promotion& p : cap_.promotions) {
      if (p.kind != JsonKind::object) {
        continue;
      }
      w_.begin_object();
      put_number("value", p.points, "data.promotionalPointsIssued[].promotionPoints");
      put_id("promotionId", p.identifier, "data.promotionalPointsIssued[].promotionIdentifier");
      w_.string("loyaltyProgramId", program_id);
      w_.end_object();
    }
    w_.end_array();
    w_.end_object();
    begin_tenant();
    end_tenant();
    finish(OutputKind::experience_event);
  }
  if (want_profile()) {
    begin_profile();
    begin_loyalty();
    put_number("points", cap_[F::program_current_points], "data.programCurrentPoints");
    put_number("lifetimePoints", cap_[F::program_lifetime_points], "data.programLifetimePoints");
    w_.begin_array("pointsExpiration");
    for (const PointsBreakup& b : cap_.breakup) {
      if (b.kind != JsonKind::object) {
        continue;
      }
      w_.begin_object();
      put_number("pointsExpiring", b.points, "data.regularPointsBreakup[].points");
      put_time("pointsExpirationDate", b.expiry_at, "data.regularPointsBreakup[].expiryAt");
      w_.end_object();
    }
    w_.end_array();
    end_profile();
  }
}

void CapillaryTransform::points_redeemed() {
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers") ||
      !array_block(cap_.balances.kind, "data.redemptionFromEarningPrograms")) {
    return;
  }
  const std::string_view program_id =
      id(cap_[F::loyalty_program_id], "data.loyaltyProgramId", id_buf2_);
  if (want_event()) {
    begin_event("loyalty.pointsRedeemed", -1);
    w_.begin_object("loyalty");
    w_.begin_array("pointsRedemption");
    w_.begin_object();
    put_number("value", cap_[F::total_points_redeemed], "data.totalPointsRedeemed");
    w_.string("loyaltyProgramId", program_id);
    put_id("transactionId", cap_[F::redemption_summary_id], "data.redemptionSummaryId");
    w_.end_object();
    w_.end_array();
    const auto value =
        number(cap_[F::redeemed_points_currency_value], "data.redeemedPointsCurrencyValue");
    if (value && value_of(*value) > 0) {
      w_.begin_array("discounts");
      w_.begin_object();
      put_number("value", cap_[F::redeemed_points_currency_value],
                 "data.redeemedPointsCurrencyValue");
      w_.string("source", "pointsRedemption");
      w_.end_object();
      w_.end_array();
    }
    w_.end_object();
    begin_tenant();
    end_tenant();
    finish(OutputKind::experience_event);
  }
  if (want_profile()) {
    begin_profile();
    begin_loyalty();
    for (const ProgramBalance& b : cap_.balances) {
      if (b.kind == JsonKind::object && !program_id.empty() &&
          id(b.program_id, "data.redemptionFromEarningPrograms[].programId", id_buf_) ==
              program_id) {
        put_number("points", b.current_points,
                   "data.redemptionFromEarningPrograms[].programCurrentPoints");
        break;
      }
    }
    end_profile();
  }
}

void CapillaryTransform::points_expired() {
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers") || !want_event()) {
    return;
  }
  begin_event("loyalty.pointsExpired", -1);
  begin_tenant();
  put_number("pointsExpired", cap_[F::points_expired], "data.pointsExpired");
  put_id("loyaltyProgramId", cap_[F::loyalty_program_id], "data.loyaltyProgramId");
  end_tenant();
  finish(OutputKind::experience_event);
}

void CapillaryTransform::points_expiry_reminder() {
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers")) {
    return;
  }
  if (want_event()) {
    begin_event("loyalty.pointsExpiryReminder", -1);
    begin_tenant();
    put_number("pointsScheduledForExpiry", cap_[F::points_scheduled_for_expiry],
               "data.pointsScheduledForExpiry");
    put_time("scheduledExpiryDate", cap_[F::scheduled_expiry_date], "data.scheduledExpiryDate");
    put_id("loyaltyProgramId", cap_[F::loyalty_program_id], "data.loyaltyProgramId");
    end_tenant();
    finish(OutputKind::experience_event);
  }
  if (want_profile()) {
    begin_profile();
    begin_loyalty();
    w_.begin_array("pointsExpiration");
    w_.begin_object();
    put_number("pointsExpiring", cap_[F::points_scheduled_for_expiry],
               "data.pointsScheduledForExpiry");
    put_time("pointsExpirationDate", cap_[F::scheduled_expiry_date], "data.scheduledExpiryDate");
    w_.end_object();
    w_.end_array();
    end_profile();
  }
}

void CapillaryTransform::points_reversed() {
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers")) {
    return;
  }
  const bool issued = ev_.envelope().event_name == "issuedPointsReversed";
  if (want_event()) {
    begin_event("loyalty.pointsReversed", -1);
    begin_tenant();
    put_id("loyaltyProgramId", cap_[F::loyalty_program_id], "data.loyaltyProgramId");
    if (issued) {
      put_number("totalIssuedPointsReversed", cap_[F::total_issued_points_reversed],
                 "data.totalIssuedPointsReversed");
      put_number("regularPointsReversed", cap_[F::regular_points_reversed],
                 "data.regularPointsReversed");
      put_number("promisedPointsReversed", cap_[F::promised_points_reversed],
                 "data.promisedPointsReversed");
    } else {
      put_number("redeemedPointsReversed", cap_[F::redeemed_points_reversed],
                 "data.redeemedPointsReversed");
      put_id("redemptionSummaryId", cap_[F::redemption_summary_id], "data.redemptionSummaryId");
    }
    end_tenant();
    finish(OutputKind::experience_event);
  }
  if (issued && want_profile()) {
    begin_profile();
    begin_loyalty();
    put_number("points", cap_[F::program_current_points], "data.programCurrentPoints");
    put_number("lifetimePoints", cap_[F::program_lifetime_points], "data.programLifetimePoints");
    end_profile();
  }
}

// ---------------------------------------------------------------- tiers

void CapillaryTransform::tier_changed() {
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers")) {
    return;
  }
  const std::string_view name = ev_.envelope().event_name;
  const bool upgraded = name == "tierUpgraded";
  const bool downgraded = name == "tierDowngraded";
  const F new_field = upgraded     ? F::upgraded_tier_number
                      : downgraded ? F::downgraded_tier_number
                                   : F::current_tier_number;
  const std::string_view new_path = upgraded     ? "data.upgradedTierNumber"
                                    : downgraded ? "data.downgradedTierNumber"
                                                 : "data.currentTierNumber";
  if (cap_.tiers.kind != JsonKind::absent && cap_.tiers.kind != JsonKind::array &&
      cap_.tiers.kind != JsonKind::null) {
    wrong_type("data.loyaltyProgramDetails.tiers", cap_.tiers.kind, "an array");
    return;
  }
  if (want_event()) {
    begin_event(upgraded     ? "loyalty.tierUpgraded"
                : downgraded ? "loyalty.tierDowngraded"
                             : "loyalty.tierRenewed",
                -1);
    begin_tenant();
    put_id("loyaltyProgramId", cap_[F::loyalty_program_id], "data.loyaltyProgramId");
    put_number("previousTierNumber", cap_[F::previous_tier_number], "data.previousTierNumber");
    w_.string("previousTierName",
              tier_name(cap_[F::previous_tier_number], "data.previousTierNumber"));
    put_number("newTierNumber", cap_[new_field], new_path);
    w_.string("newTierName", tier_name(cap_[new_field], new_path));
    put_code("upgradeType", cap_[F::upgrade_type], "data.upgradeType");
    end_tenant();
    finish(OutputKind::experience_event);
  }
  if (want_profile()) {
    begin_profile();
    begin_loyalty();
    w_.string("tier", tier_name(cap_[new_field], new_path));
    if (upgraded) {
      put_created_at("tierUpgradeDate");
    }
    put_tier_expiry();
    end_profile();
  }
}

// ---------------------------------------------------------------- rewards, coupons, badges

void CapillaryTransform::reward_issued() {
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers") || !want_event()) {
    return;
  }
  begin_event("loyalty.rewardIssued", -1);
  const auto points = number(cap_[F::intouch_points], "data.intouchPoints");
  if (points && value_of(*points) > 0) {
    w_.begin_object("loyalty");
    w_.begin_array("pointsRedemption");
    w_.begin_object();
    put_number("value", cap_[F::intouch_points], "data.intouchPoints");
    w_.end_object();
    w_.end_array();
    w_.end_object();
  }
  begin_tenant();
  put_id("rewardId", cap_[F::reward_id], "data.rewardId");
  put_code("type", cap_[F::type], "data.type");
  put_code("redemptionType", cap_[F::redemption_type], "data.redemptionType");
  put_text("label", cap_[F::label], "data.label");
  put_text("group", cap_[F::group], "data.group");
  end_tenant();
  finish(OutputKind::experience_event);
}

void CapillaryTransform::coupon_issue() {
  if (cap_.coupons.kind != JsonKind::array || cap_.coupons.count == 0) {
    if (cap_.coupons.kind == JsonKind::absent || cap_.coupons.kind == JsonKind::null ||
        cap_.coupons.kind == JsonKind::array) {
      fail("invalid-field", "data.coupons: no coupons to map");
    } else {
      wrong_type("data.coupons", cap_.coupons.kind, "an array");
    }
    return;
  }
  if (!want_event()) {
    return;
  }
  int index = 0;
  for (const Coupon& c : cap_.coupons) {
    if (c.kind != JsonKind::object) {
      wrong_type(fmt::format("data.coupons[{}]", index), c.kind, "an object");
      return;
    }
    if (c.customer.kind != JsonKind::absent && c.customer.kind != JsonKind::null &&
        c.customer.kind != JsonKind::object) {
      wrong_type(fmt::format("data.coupons[{}].customerIdentifiers", index), c.customer.kind,
                 "an object");
      return;
    }
    const bool own = c.customer.kind == JsonKind::object;
    if (!resolve_customer(
            own ? c.customer : cap_.customer,
            own ? "data.coupons[].customerIdentifiers" : "data.customerIdentifiers")) {
      return;
    }
    begin_event("loyalty.couponIssued", index);
    begin_tenant();
    put_code("couponCode", c.code, "data.coupons[].code");
    put_id("couponId", c.id, "data.coupons[].id");
    put_id("seriesId", cap_.series.id, "data.series_info.id");
    put_code("discountType", cap_.series.discount_type, "data.series_info.discount_type");
    put_number("discountValue", cap_.series.discount_value, "data.series_info.discount_value");
    end_tenant();
    finish(OutputKind::experience_event);
    if (ev_.failed()) {
      return;
    }
    ++index;
  }
}

void CapillaryTransform::coupon_redeem() {
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers") || !want_event() ||
      !object_block(cap_.coupon_kind, "data.coupon") ||
      !object_block(cap_.transaction_kind, "data.transaction") ||
      !object_block(cap_.coupon_series.kind, "data.coupon.series_info") ||
      !object_block(cap_.series.kind, "data.series_info")) {
    return;
  }
  const SeriesInfo& series =
      cap_.coupon_series.kind == JsonKind::object ? cap_.coupon_series : cap_.series;
  begin_event("loyalty.couponRedeemed", -1);
  w_.begin_object("commerce");
  w_.begin_object("order");
  put_code("purchaseOrderNumber", cap_.transaction_number, "data.transaction.number");
  w_.end_object();
  w_.end_object();
  w_.begin_object("loyalty");
  w_.begin_array("couponRedemption");
  w_.begin_object();
  put_code("id", cap_.coupon_code, "data.coupon.code");
  put_id("series", series.id, "data.coupon.series_info.id");
  put_text("seriesName", series.description, "data.coupon.series_info.description");
  w_.end_object();
  w_.end_array();
  w_.end_object();
  begin_tenant();
  end_tenant();
  finish(OutputKind::experience_event);
}

void CapillaryTransform::badge_earned() {
  if (!resolve_customer(cap_.customer, "data.customerIdentifiers") || !want_event()) {
    return;
  }
  begin_event("loyalty.badgeEarned", -1);
  begin_tenant();
  put_id("badgeId", cap_[F::badge_id], "data.badgeId");
  put_id("earnId", cap_[F::earn_id], "data.earnId");
  end_tenant();
  finish(OutputKind::experience_event);
}

// ---------------------------------------------------------------- factory

class CapillaryFactory final : public TransformFactory {
 public:
  [[nodiscard]] std::string_view name() const override { return kName; }

  [[nodiscard]] TransformCreator create(const FactoryContext& ctx) const override {
    auto settings = std::make_shared<OutputSettings>();
    if (!xdm::parse_output_settings(ctx, kName, {}, *settings)) {
      return {};
    }
    std::shared_ptr<const OutputSettings> shared = std::move(settings);
    return [shared] { return std::make_unique<CapillaryTransform>(shared); };
  }
};

}  // namespace

std::unique_ptr<TransformFactory> make_factory() {
  return std::make_unique<CapillaryFactory>();
}

const std::vector<std::string_view>& mapped_events() {
  static const std::vector<std::string_view> names = {
      "customerAdded",        "customerUpdated",        "transactionAdded", "transactionUpdated",
      "pointsIssued",         "pointsRedeemed",         "pointsExpired",    "pointsExpiryReminder",
      "issuedPointsReversed", "redeemedPointsReversed", "tierUpgraded",     "tierDowngraded",
      "tierRenewed",          "rewardIssued",           "CouponIssue",      "CouponRedeem",
      "badgeEarned"};
  return names;
}

}  // namespace transforms::capillary

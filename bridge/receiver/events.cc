#include "bridge/receiver/events.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>

namespace bridge::receiver {
namespace {

namespace od = simdjson::ondemand;
using core::reject;

constexpr const char* kMalformed = "malformed-json";
constexpr const char* kEncoding = "encoding";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// A customer id as text: a string (trimmed) or an integer's digits; anything else is none.
std::string id_text(od::value v) {
  od::json_type type{};
  if (v.type().get(type) != simdjson::SUCCESS) {
    return {};
  }
  if (type == od::json_type::string) {
    std::string_view s;
    return v.get_string().get(s) == simdjson::SUCCESS ? std::string(trim(s)) : std::string();
  }
  if (type == od::json_type::number) {
    std::int64_t n = 0;
    if (v.get_int64().get(n) == simdjson::SUCCESS) {
      return std::to_string(n);
    }
    double d = 0;  // 510000101.0
    if (v.get_double().get(d) == simdjson::SUCCESS && d > 0 && d < 9.0e15 &&
        d == static_cast<double>(static_cast<std::int64_t>(d))) {
      return std::to_string(static_cast<std::int64_t>(d));
    }
  }
  return {};
}

// data.customerIdentifiers.customerId, else data.coupons[0].customerIdentifiers.customerId
// (couponIssued and friends), where the catalogue finds the customer too.
std::string customer_of(od::object data) {
  for (auto field : data) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return {};
    }
    key = trim(key);
    if (key == "customerIdentifiers") {
      od::object ids;
      od::value id;
      if (field.value().get_object().get(ids) == simdjson::SUCCESS &&
          ids.find_field_unordered("customerId").get(id) == simdjson::SUCCESS) {
        return id_text(id);
      }
      return {};
    }
    if (key == "coupons") {
      od::array coupons;
      if (field.value().get_array().get(coupons) != simdjson::SUCCESS) {
        return {};
      }
      for (auto coupon : coupons) {
        od::object c;
        od::value ids;
        od::value id;
        if (coupon.get_object().get(c) == simdjson::SUCCESS &&
            c.find_field_unordered("customerIdentifiers").get(ids) == simdjson::SUCCESS &&
            ids.find_field_unordered("customerId").get(id) == simdjson::SUCCESS) {
          return id_text(id);
        }
        return {};
      }
      return {};
    }
  }
  return {};
}

}  // namespace

core::Result<void> Inspector::read_one(std::string_view raw, Event& event) {
  event.raw = raw;
  // The envelope reader validates the whole event (UTF-8, every value) and knows the documented
  // envelopes (orgId in E2's attributes or the eventType prefix). An object with no event name is
  // still accepted: the bridge dead-letters it with its reason, nothing is lost here.
  auto envelope = envelope_.read(raw);
  if (!envelope) {
    if (envelope.error().code == "envelope") {
      return {};
    }
    return tl::unexpected(envelope.error());
  }
  event.event_id.assign(envelope->event_id);
  event.org_id = envelope->org_id;
  event.has_org_id = envelope->has_org_id;
  if (envelope->data_raw.empty()) {
    return {};
  }
  scratch_.assign(envelope->data_raw);
  scratch_.append(simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  od::object data;
  if (parser_.iterate(scratch_.data(), envelope->data_raw.size(), scratch_.size()).get(doc) ==
          simdjson::SUCCESS &&
      doc.get_object().get(data) == simdjson::SUCCESS) {
    event.customer_id = customer_of(data);
  }
  return {};
}

core::Result<void> Inspector::inspect(std::string_view body, std::vector<Event>& out) {
  const std::size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return reject(kMalformed, "the body is empty");
  }
  if (body[first] != '[') {
    Event event;
    if (auto ok = read_one(body, event); !ok) {
      return ok;
    }
    out.push_back(std::move(event));
    return {};
  }
  if (!simdjson::validate_utf8(body.data(), body.size())) {
    return reject(kEncoding, "the body is not valid UTF-8");
  }
  od::document doc;
  od::array array;
  if (parser_.iterate(body.data(), body.size(), body.size() + simdjson::SIMDJSON_PADDING)
              .get(doc) != simdjson::SUCCESS ||
      doc.get_array().get(array) != simdjson::SUCCESS) {
    return reject(kMalformed, "the body is not JSON");
  }
  spans_.clear();
  std::size_t index = 0;
  for (auto element : array) {
    od::value value;
    od::json_type type{};
    if (element.get(value) != simdjson::SUCCESS || value.type().get(type) != simdjson::SUCCESS) {
      return reject(kMalformed, fmt::format("the batch is not JSON (near element {})", index));
    }
    od::object object;
    std::string_view raw;
    if (type != od::json_type::object || value.get_object().get(object) != simdjson::SUCCESS ||
        object.raw_json().get(raw) != simdjson::SUCCESS) {
      return reject(kMalformed, fmt::format("batch element {} is not a JSON object", index));
    }
    // raw_json() runs up to the next token: the element's own bytes end at its last non-space.
    while (!raw.empty() &&
           (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t')) {
      raw.remove_suffix(1);
    }
    spans_.push_back(raw);
    ++index;
  }
  // current_location() fails at the end of the document: anything else is trailing data.
  const char* rest = nullptr;
  if (!doc.current_location().get(rest)) {
    return reject(kMalformed, "the body has data after the JSON array");
  }
  if (spans_.empty()) {
    return reject(kMalformed, "the body is an empty JSON array");
  }
  const std::size_t start = out.size();
  for (std::size_t i = 0; i < spans_.size(); ++i) {
    // Each element is validated in full here (the array walk skipped over their insides).
    Event event;
    if (auto ok = read_one(spans_[i], event); !ok) {
      out.resize(start);
      return reject(ok.error().code, fmt::format("batch element {}: {}", i, ok.error().message));
    }
    out.push_back(std::move(event));
  }
  return {};
}

void key_for(const Event& event, config::ReceiverKey mode, std::int64_t path_org_id,
             std::string& out) {
  out.clear();
  switch (mode) {
    case config::ReceiverKey::none:
      return;
    case config::ReceiverKey::event_id:
      out = event.event_id;
      return;
    case config::ReceiverKey::customer:
      if (!event.customer_id.empty()) {
        const std::int64_t org = event.has_org_id ? event.org_id : path_org_id;
        out = fmt::format("{}:{}", org, event.customer_id);
      } else {
        out = event.event_id;
      }
      return;
  }
}

}  // namespace bridge::receiver

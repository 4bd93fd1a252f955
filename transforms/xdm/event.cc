#include "transforms/xdm/event.h"

#include <fmt/format.h>

namespace transforms::xdm {

using bridge::core::reject;

Result<void> EventState::begin(const Envelope& env, const OutputSettings& settings, Emitter& out) {
  if (env.event_id.empty()) {
    return reject("envelope", "eventId is missing or empty");
  }
  if (!env.has_org_id) {
    return reject("envelope", "orgId is missing or not an integer");
  }
  if (!env.has_created_at) {
    return reject("envelope", "createdAt is missing or not a time with a known offset");
  }
  if (env.data_raw.empty()) {
    return reject("envelope", "data is missing");
  }
  const std::size_t n = values::format_utc_ms(env.created_at_ms, created_buf_);
  if (n == 0) {
    return reject("envelope", "createdAt is outside the years 0000-9999");
  }
  env_ = &env;
  settings_ = &settings;
  out_ = &out;
  offset_ = settings.offset_minutes(env.org_id);
  created_ = std::string_view(created_buf_, n);
  const auto org = fmt::format_to_n(org_buf_, sizeof(org_buf_), "{}", env.org_id);
  org_text_ = std::string_view(org_buf_, org.size);
  failed_ = false;
  fatal_ = false;
  fail_message_.clear();
  kept_ = 0;
  return {};
}

void EventState::fail(std::string_view reason, std::string message) {
  if (!failed_) {
    failed_ = true;
    fail_reason_ = reason;
    fail_message_ = std::move(message);
  }
}

Result<void> EventState::result() {
  if (failed_ && fatal_) {
    return bridge::core::fail(bridge::core::ErrorKind::fatal, std::string(fail_reason_),
                              std::move(fail_message_));
  }
  if (failed_) {
    return reject(std::string(fail_reason_), std::move(fail_message_));
  }
  return {};
}

void EventState::write_id(Writer& w, std::string_view tail) {
  char uuid[UuidV5::kTextSize];
  if (!uuid_.make(kUrlNamespace, {"capillary:", org_text_, ":", env_->event_id, tail}, uuid)) {
    if (!failed_) {
      fatal_ = true;
    }
    fail("id-generation", "OpenSSL could not compute the event's _id (SHA-1)");
    return;
  }
  w.string("_id", std::string_view(uuid, sizeof(uuid)));
}

void EventState::keep(OutputKind kind, const Target* target, const Writer& w) {
  if (failed_) {
    return;
  }
  if (!w.ok()) {
    fail("encoding", "an output could not be written as JSON");
    return;
  }
  const std::string message = check_size(*settings_, kind, w.size(), *out_);
  if (!message.empty()) {
    fail("too-large", message);
    return;
  }
  if (kept_ == outputs_.size()) {
    outputs_.emplace_back();
  }
  Output& o = outputs_[kept_++];
  o.kind = kind;
  o.target = target;
  o.body.assign(w.view());
}

void EventState::emit_all(std::string_view customer_id) {
  if (!customer_id.empty() && kept_ > 0) {
    // Ordering key: the customer, whatever the configured primary id format.
    order_key_.assign(org_text_);
    order_key_.push_back(':');
    order_key_.append(customer_id);
    out_->order_key(order_key_);
  }
  for (std::size_t i = 0; i < kept_; ++i) {
    out_->emit(outputs_[i].kind, *outputs_[i].target, outputs_[i].body);
  }
}

}  // namespace transforms::xdm

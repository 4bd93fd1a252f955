#include "transforms/mapping/mapping.h"

#include <fmt/format.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "transforms/api/values.h"
#include "transforms/mapping/capture.h"
#include "transforms/mapping/convert.h"
#include "transforms/mapping/plan.h"
#include "transforms/xdm/identity.h"
#include "transforms/xdm/settings.h"
#include "transforms/xdm/uuid.h"
#include "transforms/xdm/writer.h"

namespace transforms::mapping {
namespace {

using bridge::core::reject;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

bool is_missing(JsonKind k) {
  return k == JsonKind::absent || k == JsonKind::null;
}

struct Output {
  OutputKind kind = OutputKind::experience_event;
  const Target* target = nullptr;
  std::string body;
};

class MappingTransform final : public Transform {
 public:
  explicit MappingTransform(std::shared_ptr<const Plan> plan)
      : p_(std::move(plan)), capture_(*p_), cur_(p_->scopes.size(), 0) {}

  Result<void> apply(const Input& input, Emitter& out) override;

 private:
  // --- values ---
  [[nodiscard]] Value get(const Ref& r) const {
    return capture_.get(r.scope, cur_[r.scope], r.slot);
  }
  [[nodiscard]] Value value(const Source& s) const;
  [[nodiscard]] Value envelope_value(EnvelopeField f) const;

  // --- JSON paths for messages (only built when something fails) ---
  [[nodiscard]] std::string element_path(std::uint32_t scope, std::uint32_t element) const;
  [[nodiscard]] std::string path(const Ref& r) const {
    return element_path(r.scope, cur_[r.scope]) + r.display;
  }
  [[nodiscard]] std::string path(const Source& s) const;

  // --- failure state: the first problem wins ---
  void fail(std::string_view reason, std::string message) {
    if (!failed_) {
      failed_ = true;
      fail_reason_ = reason;
      fail_message_ = std::move(message);
    }
  }
  void wrong_type(const std::string& where, JsonKind kind, std::string_view expected_kind) {
    fail("invalid-field",
         fmt::format("{}: expected {}, got {}", where, expected_kind, describe(kind)));
  }

  [[nodiscard]] bool holds(const std::vector<Condition>& when) const;
  [[nodiscard]] bool matches(const Condition& c) const;

  std::string_view code(const Value& v, const Ref& where);
  bool resolve_identity(const IdentityRefs& ids);

  void render(const OutputSpec& o, std::int64_t split_index);
  void write_children(std::uint32_t node);
  void write_field(const Field& f, std::string_view key);
  void write_array(const Field& f, std::string_view key);
  // What a value is named in messages: a field's source, or an element of a value array.
  struct Where {
    const Source* source = nullptr;
    const Ref* ref = nullptr;
  };
  // Converts and writes one value (keyless inside value arrays).
  void put(const Value& v, Type type, std::string_view key, bool keyed, const Where& where);
  void finish(const OutputSpec& o);

  std::shared_ptr<const Plan> p_;
  Capture capture_;
  std::vector<std::uint32_t> cur_;  // current element per scope
  Converter converter_;
  xdm::Writer w_;
  xdm::UuidV5 uuid_;
  xdm::Identities ids_;
  std::vector<Output> outputs_;
  std::size_t output_count_ = 0;

  // Per-event state.
  const Envelope* env_ = nullptr;
  Emitter* out_ = nullptr;
  int offset_ = 0;
  std::string_view created_;
  char created_buf_[values::kMaxTimeText] = {};
  char org_buf_[24] = {};
  std::string_view org_text_;
  std::string id_tail_;
  bool failed_ = false;
  std::string_view fail_reason_;
  std::string fail_message_;
};

Result<void> MappingTransform::apply(const Input& input, Emitter& out) {
  const Envelope& env = input.envelope;
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
  if (capture_.capture(env.data_raw) != simdjson::SUCCESS) {
    return reject("malformed-json", "data is not valid JSON");
  }
  if (capture_.data_kind() != JsonKind::object) {
    return reject("envelope",
                  fmt::format("data is {}, not an object", describe(capture_.data_kind())));
  }
  const std::size_t n = values::format_utc_ms(env.created_at_ms, created_buf_);
  if (n == 0) {
    return reject("envelope", "createdAt is outside the years 0000-9999");
  }
  env_ = &env;
  out_ = &out;
  failed_ = false;
  fail_message_.clear();
  output_count_ = 0;
  offset_ = p_->settings.offset_minutes(env.org_id);
  created_ = std::string_view(created_buf_, n);
  const auto org = fmt::format_to_n(org_buf_, sizeof(org_buf_), "{}", env.org_id);
  org_text_ = std::string_view(org_buf_, org.size);

  for (const OutputSpec& o : p_->outputs) {
    if (!o.split) {
      if (holds(o.when)) {
        render(o, -1);
      }
    } else {
      const Value array = get(o.split_ref);
      if (array.kind == JsonKind::array) {
        for (std::uint32_t e = array.first; e < array.first + array.count && !failed_; ++e) {
          cur_[o.split_scope] = e;
          const Value element = get(o.split_element);
          if (element.kind != JsonKind::object) {
            wrong_type(path(o.split_element), element.kind, "an object");
          } else if (holds(o.when)) {
            render(o, capture_.index_of(o.split_scope, e));
          }
        }
      } else if (!is_missing(array.kind)) {
        wrong_type(path(o.split_ref), array.kind, "an array");
      }
    }
    if (failed_) {
      return reject(std::string(fail_reason_), std::move(fail_message_));
    }
  }
  for (std::size_t i = 0; i < output_count_; ++i) {
    out.emit(outputs_[i].kind, *outputs_[i].target, outputs_[i].body);
  }
  if (output_count_ == 0) {
    out.warning("mapping-no-output");
  }
  return {};
}

// ---------------------------------------------------------------- values

Value MappingTransform::value(const Source& s) const {
  switch (s.from) {
    case Source::From::data:
      return get(s.ref);
    case Source::From::envelope:
      return envelope_value(s.envelope);
    case Source::From::constant: {
      Value v;
      v.kind = s.constant_kind;
      v.text = s.constant_text;
      v.truth = s.constant_truth;
      return v;
    }
    case Source::From::none:
      break;
  }
  return {};
}

Value MappingTransform::envelope_value(EnvelopeField f) const {
  Value v;
  v.kind = JsonKind::string;
  switch (f) {
    case EnvelopeField::event_id:
      v.text = env_->event_id;
      break;
    case EnvelopeField::event_name:
      v.text = env_->event_name;
      break;
    case EnvelopeField::org_id:
      v.kind = JsonKind::number;
      v.text = org_text_;
      break;
    case EnvelopeField::ref_id:
      v.text = env_->ref_id;
      break;
    case EnvelopeField::api_request_id:
      v.text = env_->api_request_id;
      break;
    case EnvelopeField::loyalty_event_id:
      if (env_->loyalty_event_id.empty()) {
        return get(p_->loyalty_event_id);
      }
      v.text = env_->loyalty_event_id;
      break;
    case EnvelopeField::event_log_id:
      v.text = env_->event_log_id;
      if (values::is_json_number(v.text)) {
        v.kind = JsonKind::number;
      }
      break;
    case EnvelopeField::created_at:
      v.text = created_;
      break;
  }
  if (v.text.empty()) {
    v.kind = JsonKind::absent;
  }
  return v;
}

std::string MappingTransform::element_path(std::uint32_t scope, std::uint32_t element) const {
  if (scope == 0) {
    return "data";
  }
  const Scope& s = p_->scopes[scope];
  return fmt::format("{}{}[{}]", element_path(s.parent, capture_.parent_of(scope, element)),
                     s.display, capture_.index_of(scope, element));
}

std::string MappingTransform::path(const Source& s) const {
  switch (s.from) {
    case Source::From::data:
      return path(s.ref);
    case Source::From::envelope:
      if (s.envelope == EnvelopeField::loyalty_event_id && env_->loyalty_event_id.empty()) {
        return path(p_->loyalty_event_id);
      }
      return "envelope";
    default:
      return "value";
  }
}

bool MappingTransform::holds(const std::vector<Condition>& when) const {
  for (const Condition& c : when) {
    if (!matches(c)) {
      return false;
    }
  }
  return true;
}

bool MappingTransform::matches(const Condition& c) const {
  const Value v = value(c.source);
  if (c.op == Condition::Op::exists) {
    return !is_blank(v) == c.exists;
  }
  bool any = false;
  for (const Operand& o : c.operands) {
    switch (v.kind) {
      case JsonKind::string:
        any = values::trim(v.text) == o.text;
        break;
      case JsonKind::number:
        if (v.text == o.text) {
          any = true;
        } else if (o.number) {
          const auto d = values::to_double(v.text);
          any = d && *d == *o.number;
        }
        break;
      case JsonKind::boolean:
        any = o.text == (v.truth ? "true" : "false");
        break;
      default:
        break;
    }
    if (any) {
      break;
    }
  }
  return c.op == Condition::Op::not_equals ? !any : any;
}

// ---------------------------------------------------------------- identity

// An identity value: a string or a number's text, trimmed; wrong types are invalid-field.
std::string_view MappingTransform::code(const Value& v, const Ref& where) {
  if (v.kind == JsonKind::string || v.kind == JsonKind::number) {
    return values::trim(v.text);
  }
  if (!is_missing(v.kind)) {
    wrong_type(path(where), v.kind, "a string");
  }
  return {};
}

// The catalogue's rules (transforms/capillary): customerId (or a USER entityInformation.entityId)
// is the primary identity and required; email, phone, external id and cards are secondaries
// when valid.
bool MappingTransform::resolve_identity(const IdentityRefs& ids) {
  ids_.clear();
  const Value block = get(ids.block);
  if (!is_missing(block.kind) && block.kind != JsonKind::object) {
    wrong_type(path(ids.block), block.kind, "an object");
    return false;
  }
  Value customer = get(ids.customer_id);
  if (is_missing(customer.kind)) {
    const Value type = get(p_->entity_type);
    if (type.kind == JsonKind::string && iequals(values::trim(type.text), "USER")) {
      customer = get(p_->entity_id);
    }
  }
  if (customer.kind == JsonKind::object || customer.kind == JsonKind::array ||
      customer.kind == JsonKind::boolean) {
    fail("identity",
         fmt::format("{} is {}, not an id", path(ids.customer_id), describe(customer.kind)));
    return false;
  }
  const std::string_view raw = values::trim(customer.text);
  if (is_missing(customer.kind) || raw.empty()) {
    fail("identity", fmt::format("no customer id: {} is missing (and there is no USER "
                                 "entityInformation.entityId)",
                                 path(ids.customer_id)));
    return false;
  }
  if (!xdm::normalize_customer_id(raw, ids_.customer_id)) {
    fail("identity", fmt::format("{} is not a positive integer id", path(ids.customer_id)));
    return false;
  }
  const IdentityRefs::Instore* in = nullptr;
  for (const IdentityRefs::Instore& candidate : ids.instore) {
    const Value b = get(candidate.block);
    if (b.kind == JsonKind::object) {
      in = &candidate;
      break;
    }
  }
  if (in == nullptr) {
    return true;
  }
  if (const std::string_view email = code(get(in->email), in->email);
      !email.empty() && !xdm::normalize_email(email, ids_.email)) {
    out_->warning(xdm::looks_hashed(email) ? "identity-hashed" : "identity-invalid-email");
  }
  if (const std::string_view phone = code(get(in->mobile), in->mobile);
      !phone.empty() && !xdm::normalize_phone(phone, ids_.phone)) {
    out_->warning(xdm::looks_hashed(phone) ? "identity-hashed" : "identity-invalid-phone");
  }
  ids_.external_id.assign(code(get(in->external_id), in->external_id));
  ids_.add_card(code(get(in->card_number), in->card_number));
  const Value cards = get(in->cards);
  if (cards.kind == JsonKind::array) {
    const std::uint32_t scope = in->card.scope;
    for (std::uint32_t e = cards.first; e < cards.first + cards.count; ++e) {
      cur_[scope] = e;
      ids_.add_card(code(get(in->card), in->card));
    }
  }
  return !failed_;
}

// ---------------------------------------------------------------- documents

void MappingTransform::render(const OutputSpec& o, std::int64_t split_index) {
  if (!resolve_identity(o.identity)) {
    return;
  }
  w_.reset();
  w_.begin_object();
  if (o.kind == OutputKind::experience_event) {
    // `_id` = UUIDv5(URL namespace, "capillary:{orgId}:{eventId}[:{id_suffix}][:{index}]").
    id_tail_.clear();
    if (!o.id_suffix.empty()) {
      id_tail_.push_back(':');
      id_tail_.append(o.id_suffix);
    }
    if (split_index >= 0) {
      fmt::format_to(std::back_inserter(id_tail_), ":{}", split_index);
    }
    char uuid[xdm::UuidV5::kTextSize];
    uuid_.make(xdm::kUrlNamespace, {"capillary:", org_text_, ":", env_->event_id, id_tail_}, uuid);
    w_.string("_id", std::string_view(uuid, sizeof(uuid)));
    w_.string("timestamp", created_);
    w_.string("eventType", o.event_type);
  }
  xdm::write_identity_map(w_, p_->settings, env_->org_id, ids_);
  write_children(o.tree);
  w_.end_object();
  finish(o);
}

void MappingTransform::write_children(std::uint32_t node) {
  for (const std::uint32_t c : p_->nodes[node].children) {
    const OutNode& n = p_->nodes[c];
    if (n.field >= 0) {
      write_field(p_->fields[static_cast<std::size_t>(n.field)], n.key);
    } else {
      w_.begin_object(n.key);
      write_children(c);
      w_.end_object();
    }
    if (failed_) {
      return;
    }
  }
}

void MappingTransform::write_field(const Field& f, std::string_view key) {
  if (!holds(f.when)) {
    return;
  }
  if (f.array) {
    write_array(f, key);
    return;
  }
  const Value v = value(f.source);
  if (!is_blank(v)) {
    put(v, f.type, key, true, Where{&f.source, nullptr});
  } else if (f.has_default) {
    put(value(f.fallback), f.type, key, true, Where{&f.source, nullptr});
  } else if (f.required) {
    fail("invalid-field", fmt::format("{}: required, but missing, null or blank", path(f.source)));
  }
}

void MappingTransform::write_array(const Field& f, std::string_view key) {
  const Value array = get(f.source.ref);
  if (is_missing(array.kind)) {
    if (f.required) {
      fail("invalid-field", fmt::format("{}: required, but missing or null", path(f.source.ref)));
    }
    return;
  }
  if (array.kind != JsonKind::array) {
    wrong_type(path(f.source.ref), array.kind, "an array");
    return;
  }
  w_.begin_array(key);
  for (std::uint32_t e = array.first; e < array.first + array.count && !failed_; ++e) {
    cur_[f.array_scope] = e;
    const Value element = get(f.element);
    if (f.element_objects && element.kind != JsonKind::object) {
      wrong_type(path(f.element), element.kind, "an object");
      break;
    }
    if (!holds(f.element_when)) {
      continue;
    }
    if (f.element_objects) {
      w_.begin_object();
      write_children(f.element_tree);
      w_.end_object();
    } else if (!is_blank(element)) {
      put(element, f.element_type, {}, false, Where{nullptr, &f.element});
    }
  }
  w_.end_array();
}

void MappingTransform::put(const Value& v, Type type, std::string_view key, bool keyed,
                           const Where& where) {
  const auto source = [&] { return where.ref != nullptr ? path(*where.ref) : path(*where.source); };
  Converted c;
  switch (converter_.convert(v, type, offset_, c)) {
    case Status::ok:
      break;
    case Status::wrong_kind:
      wrong_type(source(), v.kind, expected(type));
      return;
    case Status::not_integer:
      fail("invalid-field", fmt::format("{}: not an integer", source()));
      return;
    case Status::not_number:
      fail("invalid-field", fmt::format("{}: not a number", source()));
      return;
    case Status::not_boolean:
      fail("invalid-field", fmt::format("{}: not a boolean", source()));
      return;
    case Status::unparseable_time:
      out_->warning("unparseable-time");
      return;
    case Status::invalid_email:
      out_->warning("identity-invalid-email");
      return;
    case Status::invalid_phone:
      out_->warning("identity-invalid-phone");
      return;
    case Status::hashed:
      out_->warning("identity-hashed");
      return;
  }
  switch (c.tag) {
    case Converted::Tag::string:
      keyed ? w_.string(key, c.text) : w_.string(c.text);
      break;
    case Converted::Tag::number:
      keyed ? w_.number_text(key, c.text) : w_.number_text(c.text);
      break;
    case Converted::Tag::integer:
      keyed ? w_.integer(key, c.integer) : w_.integer(c.integer);
      break;
    case Converted::Tag::boolean:
      if (keyed) {  // value arrays of booleans are refused at startup
        w_.boolean(key, c.truth);
      }
      break;
  }
}

void MappingTransform::finish(const OutputSpec& o) {
  if (failed_) {
    return;
  }
  if (!w_.ok()) {
    fail("encoding", "a field is not valid UTF-8");
    return;
  }
  const std::string message = xdm::check_size(p_->settings, o.kind, w_.size(), *out_);
  if (!message.empty()) {
    fail("too-large", message);
    return;
  }
  if (output_count_ == outputs_.size()) {
    outputs_.emplace_back();
  }
  Output& out = outputs_[output_count_++];
  out.kind = o.kind;
  out.target = o.target;
  out.body.assign(w_.view());
}

// ---------------------------------------------------------------- factory

class MappingFactory final : public TransformFactory {
 public:
  [[nodiscard]] std::string_view name() const override { return kName; }

  [[nodiscard]] TransformCreator create(const FactoryContext& ctx) const override {
    auto plan = std::make_shared<Plan>();
    const bool settings_ok = xdm::parse_output_settings(ctx, kName, {"outputs"}, plan->settings);
    if (!compile(ctx, settings_ok, *plan)) {
      return {};
    }
    std::shared_ptr<const Plan> shared = std::move(plan);
    return [shared] { return std::make_unique<MappingTransform>(shared); };
  }
};

}  // namespace

std::unique_ptr<TransformFactory> make_factory() {
  return std::make_unique<MappingFactory>();
}

}  // namespace transforms::mapping

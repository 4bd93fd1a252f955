#include "transforms/mapping/mapping.h"

#include <fmt/format.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "transforms/api/envelope.h"
#include "transforms/api/values.h"
#include "transforms/mapping/capture.h"
#include "transforms/mapping/convert.h"
#include "transforms/mapping/plan.h"
#include "transforms/xdm/event.h"
#include "transforms/xdm/identity.h"
#include "transforms/xdm/settings.h"
#include "transforms/xdm/uuid.h"
#include "transforms/xdm/writer.h"

namespace transforms::mapping {
namespace {

using bridge::core::reject;

bool is_missing(JsonKind k) {
  return k == JsonKind::absent || k == JsonKind::null;
}

class MappingTransform final : public Transform {
 public:
  explicit MappingTransform(std::shared_ptr<const Plan> plan)
      : p_(std::move(plan)), capture_(*p_), cur_(p_->scopes.size(), 0) {}

  Result<void> apply(const Input& input, Emitter& out) override;
  [[nodiscard]] bool checks_data() const override { return true; }
  [[nodiscard]] std::vector<TenantField> tenant_fields() const override {
    return mapping::tenant_fields(*p_);
  }

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
  void fail(std::string_view reason, std::string message) { ev_.fail(reason, std::move(message)); }
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
  xdm::Identities ids_;
  xdm::EventState ev_;

  // Per-event state.
  std::string id_tail_;
};

Result<void> MappingTransform::apply(const Input& input, Emitter& out) {
  const Envelope& env = input.envelope;
  // `data` first, validating all of it (checks_data): broken JSON is `malformed-json` before
  // anything else is decided.
  if (auto captured = capture_data(input, [&](auto data) { return capture_.capture(data); });
      !captured) {
    return captured;
  }
  if (auto started = ev_.begin(env, p_->settings, out); !started) {
    return started;
  }
  if (capture_.data_kind() != JsonKind::object) {
    return reject("envelope",
                  fmt::format("data is {}, not an object", describe(capture_.data_kind())));
  }
  for (const OutputSpec& o : p_->outputs) {
    if (!o.split) {
      if (holds(o.when)) {
        render(o, -1);
      }
    } else {
      const Value array = get(o.split_ref);
      if (array.kind == JsonKind::array) {
        for (std::uint32_t e = array.first; e < array.first + array.count && !ev_.failed(); ++e) {
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
    if (ev_.failed()) {
      return ev_.result();
    }
  }
  ev_.emit_all(ids_.customer_id);
  if (ev_.kept() == 0) {
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
      v.text = ev_.envelope().event_id;
      break;
    case EnvelopeField::event_name:
      v.text = ev_.envelope().event_name;
      break;
    case EnvelopeField::org_id:
      v.kind = JsonKind::number;
      v.text = ev_.org_text();
      break;
    case EnvelopeField::ref_id:
      v.text = ev_.envelope().ref_id;
      break;
    case EnvelopeField::api_request_id:
      v.text = ev_.envelope().api_request_id;
      break;
    case EnvelopeField::loyalty_event_id:
      if (ev_.envelope().loyalty_event_id.empty()) {
        return get(p_->loyalty_event_id);
      }
      v.text = ev_.envelope().loyalty_event_id;
      break;
    case EnvelopeField::event_log_id:
      v.text = ev_.envelope().event_log_id;
      if (values::is_json_number(v.text)) {
        v.kind = JsonKind::number;
      }
      break;
    case EnvelopeField::created_at:
      v.text = ev_.created();
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
      if (s.envelope == EnvelopeField::loyalty_event_id &&
          ev_.envelope().loyalty_event_id.empty()) {
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
    if (type.kind == JsonKind::string && values::iequals(values::trim(type.text), "USER")) {
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
    ev_.out().warning(xdm::looks_hashed(email) ? "identity-hashed" : "identity-invalid-email");
  }
  if (const std::string_view phone = code(get(in->mobile), in->mobile); !phone.empty()) {
    const auto check =
        xdm::normalize_phone(phone, p_->settings.phone_code(ev_.envelope().org_id), ids_.phone);
    if (check != xdm::PhoneCheck::ok) {
      ev_.out().warning(xdm::phone_warning(check, phone));
    }
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
  return !ev_.failed();
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
    ev_.write_id(w_, id_tail_);
    w_.string("timestamp", ev_.created());
    w_.string("eventType", o.event_type);
  }
  xdm::write_identity_map(w_, p_->settings, ev_.envelope().org_id, ids_);
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
    if (ev_.failed()) {
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
  for (std::uint32_t e = array.first; e < array.first + array.count && !ev_.failed(); ++e) {
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
  switch (converter_.convert(v, type, ev_.offset_minutes(),
                             p_->settings.phone_code(ev_.envelope().org_id), c)) {
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
      ev_.out().warning("unparseable-time");
      return;
    case Status::invalid_email:
      ev_.out().warning("identity-invalid-email");
      return;
    case Status::invalid_phone:
      ev_.out().warning("identity-invalid-phone");
      return;
    case Status::phone_not_e164:
      ev_.out().warning("phone-not-e164");
      return;
    case Status::hashed:
      ev_.out().warning("identity-hashed");
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
  ev_.keep(o.kind, o.target, w_);
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

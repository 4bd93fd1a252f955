#pragma once
// The compiled form of a `mapping` route's settings (the language is described in README.md).
// compile() turns the YAML into a Plan once, at startup; the Plan is immutable afterwards and
// shared by every worker's MappingTransform through a shared_ptr<const Plan>.
//
// A Plan has two halves:
//   - the capture plan: every JSON pointer of every output merged into one trie over `data`, so
//     one on-demand pass per event fills all values into slots (capture.h). Arrays that are
//     walked element by element (`split`, `array`, card numbers) open a scope: each element gets
//     its own slots.
//   - the output plan: per output, the `to:` paths grouped into a tree of objects whose leaves
//     are fields, so the streaming xdm::Writer emits each nested object in one pass.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "transforms/api/json_kind.h"
#include "transforms/api/transform.h"
#include "transforms/xdm/settings.h"

namespace transforms::mapping {

// One value read from `data`, the envelope or the configuration. Views stay valid until the
// next capture (data) or for the Plan's life (configuration).
struct Value {
  JsonKind kind = JsonKind::absent;
  bool truth = false;       // boolean
  std::uint32_t first = 0;  // array walked element by element: its elements in the array's
  std::uint32_t count = 0;  // scope are [first, first + count)
  std::string_view text;    // string: unescaped content; number: the token as written
};

// Absent, null or a blank string: the mapping treats them alike.
[[nodiscard]] bool is_blank(const Value& v);

enum class Type : std::uint8_t {
  automatic,  // strings, numbers and booleans keep their JSON type
  string,
  trim,
  lower,
  upper,
  integer,
  number,
  boolean,
  date_time,
  date_end_of_day,
  phone,
  email,
  id,
};

// ---------------------------------------------------------------- capture plan

struct TrieChild {
  std::string key;          // pointer segment, unescaped (`~1` → `/`)
  std::int64_t index = -1;  // the segment as an array index, or -1
  std::uint32_t node = 0;
};

struct TrieNode {
  std::uint32_t scope = 0;
  std::int32_t slot = -1;  // the value here is captured into this slot of `scope`
  // An array here is walked: each of its elements is one element of this scope.
  std::int32_t iteration = -1;
  std::vector<TrieChild> children;
};

// Scope 0 is `data` (one element); every other scope is the elements of one walked array.
struct Scope {
  std::uint32_t parent = 0;
  std::uint32_t root = 0;        // trie node that matches one element
  std::uint32_t slot_count = 0;  // slots per element
  std::string display;           // the array, relative to the parent scope's element: ".streakData"
};

// A captured value: slot `slot` of the current element of `scope`.
struct Ref {
  std::uint32_t scope = 0;
  std::uint32_t slot = 0;
  std::string display;  // relative to the scope's element: ".streakName", "" for the element
};

enum class EnvelopeField : std::uint8_t {
  event_id,
  event_name,
  org_id,
  ref_id,
  api_request_id,
  loyalty_event_id,  // envelope, else data.loyaltyEventId
  event_log_id,
  created_at,  // RFC 3339 UTC text
};

struct Source {
  enum class From : std::uint8_t { none, data, envelope, constant };
  From from = From::none;
  Ref ref;                                           // data
  EnvelopeField envelope = EnvelopeField::event_id;  // envelope
  JsonKind constant_kind = JsonKind::absent;         // constant
  std::string constant_text;
  bool constant_truth = false;
};

struct Operand {
  std::string text;
  std::optional<double> number;  // when the text is a number
};

struct Condition {
  enum class Op : std::uint8_t { equals, not_equals, in, exists };
  Source source;
  Op op = Op::exists;
  std::vector<Operand> operands;  // equals / not_equals: one; in: several
  bool exists = true;
};

// ---------------------------------------------------------------- output plan

struct Field {
  Source source;
  Type type = Type::automatic;
  bool has_default = false;
  Source fallback;  // the default (a constant)
  bool required = false;
  std::vector<Condition> when;
  // `array:`: the source is an array walked in `array_scope`; each element becomes an object
  // (element_tree, a tree of OutNodes) or a value of element_type.
  bool array = false;
  std::uint32_t array_scope = 0;
  Ref element;  // one element itself (its kind; the value of a value array)
  std::vector<Condition> element_when;
  bool element_objects = false;
  std::uint32_t element_tree = 0;
  Type element_type = Type::automatic;
};

// A node of an output tree: an object (children) or a leaf (field).
struct OutNode {
  std::string key;
  std::vector<std::uint32_t> children;
  std::int32_t field = -1;
  bool implicit = false;  // written automatically (profile audit date, tenant envelope fields)
  YAML::Mark mark;
};

// Where a Capillary customerIdentifiers block's parts are captured.
struct IdentityRefs {
  Ref block;
  Ref customer_id;
  struct Instore {
    Ref block;
    Ref email;
    Ref mobile;
    Ref external_id;
    Ref card_number;
    Ref cards;  // cardNumbers (walked)
    Ref card;   // one element of cardNumbers
  };
  Instore instore[2];  // `instore`, `Instore`
};

struct OutputSpec {
  OutputKind kind = OutputKind::experience_event;
  const Target* target = nullptr;
  std::string event_type;
  std::string id_suffix;  // appended to the `_id` name as `:{suffix}`
  IdentityRefs identity;
  bool split = false;
  Ref split_ref;
  std::uint32_t split_scope = 0;
  Ref split_element;
  std::vector<Condition> when;
  std::uint32_t tree = 0;  // root OutNode
};

struct Plan {
  xdm::OutputSettings settings;
  std::vector<TrieNode> trie;  // [0] matches `data`
  std::vector<Scope> scopes;   // [0] is `data`
  std::size_t max_depth = 0;   // longest pointer, in segments, across scopes
  std::vector<Field> fields;
  std::vector<OutNode> nodes;
  std::vector<OutputSpec> outputs;
  Ref entity_type;       // data.entityInformation.entityType: a USER entity's id is the
  Ref entity_id;         // fallback customer id, as in the catalogue
  Ref loyalty_event_id;  // data.loyaltyEventId
};

// Every field the plan writes under the tenant object, with the JSON Schema type its `type:` (or
// constant, or envelope field) gives it (Transform::tenant_fields).
[[nodiscard]] std::vector<TenantField> tenant_fields(const Plan& plan);

// Compiles `outputs:` (the shared keys are already in plan.settings, parsed by
// xdm::parse_output_settings; `settings_ok` says whether that succeeded). Every problem goes to
// ctx.diagnostics with line:column. Returns false when there was any. Never throws.
[[nodiscard]] bool compile(const FactoryContext& ctx, bool settings_ok, Plan& plan);

}  // namespace transforms::mapping

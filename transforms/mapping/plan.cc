#include "transforms/mapping/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <exception>
#include <utility>

#include "transforms/api/values.h"
#include "transforms/mapping/convert.h"

namespace transforms::mapping {
namespace {

// First segments a `to:` path may start with, besides the tenant object and the fields the
// transform writes itself. The standard XDM field groups of each class.
constexpr std::array<std::string_view, 16> kEventFields = {
    "commerce",        "productListItems", "loyalty",      "marketing",
    "directMarketing", "channel",          "placeContext", "environment",
    "device",          "application",      "web",          "search",
    "endUserIDs",      "_experience",      "producedBy",   "dataSource"};
constexpr std::array<std::string_view, 21> kProfileFields = {"person",
                                                             "personalEmail",
                                                             "workEmail",
                                                             "mobilePhone",
                                                             "homePhone",
                                                             "workPhone",
                                                             "faxPhone",
                                                             "homeAddress",
                                                             "workAddress",
                                                             "mailingAddress",
                                                             "billingAddress",
                                                             "shippingAddress",
                                                             "loyalty",
                                                             "consents",
                                                             "optInOut",
                                                             "preferences",
                                                             "pushNotificationDetails",
                                                             "userAccount",
                                                             "extSourceSystemAudit",
                                                             "profilePictureLink",
                                                             "individualCharacteristics"};
constexpr std::array<std::string_view, 4> kEventReserved = {"_id", "timestamp", "eventType",
                                                            "identityMap"};

constexpr std::size_t kMaxPointerDepth = 32;

struct EnvelopeName {
  std::string_view name;
  EnvelopeField field;
};
constexpr std::array<EnvelopeName, 8> kEnvelopeNames = {{
    {"eventId", EnvelopeField::event_id},
    {"eventName", EnvelopeField::event_name},
    {"orgId", EnvelopeField::org_id},
    {"refId", EnvelopeField::ref_id},
    {"apiRequestId", EnvelopeField::api_request_id},
    {"loyaltyEventId", EnvelopeField::loyalty_event_id},
    {"eventLogId", EnvelopeField::event_log_id},
    {"createdAt", EnvelopeField::created_at},
}};

template <std::size_t N>
std::string join(const std::array<std::string_view, N>& names) {
  std::string out;
  for (const auto n : names) {
    out += out.empty() ? "" : ", ";
    out += n;
  }
  return out;
}

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& names, std::string_view s) {
  return std::find(names.begin(), names.end(), s) != names.end();
}

std::string join_path(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& p : path) {
    out += out.empty() ? "" : ".";
    out += p;
  }
  return out;
}

std::string key_of(const YAML::Node& key) {
  return key.IsScalar() ? key.Scalar() : std::string("?");
}

bool is_index(std::string_view s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), values::is_digit) &&
         (s.size() == 1 || s[0] != '0');
}

// A key the xdm::Writer can write as is: no character JSON must escape.
bool plain_key(std::string_view s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
}

struct Pointer {
  bool relative = false;  // `@`: from the current element
  std::vector<std::string> segments;
  std::string display;  // ".a.b[0]"

  [[nodiscard]] Pointer child(std::string_view key) const {
    Pointer p = *this;
    p.segments.emplace_back(key);
    p.display += is_index(key) ? fmt::format("[{}]", key) : fmt::format(".{}", key);
    return p;
  }
};

// Which scope `@` means where a pointer is written.
struct Context {
  std::uint32_t scope = 0;
  bool element = false;  // inside a split output or an array's element fields
};

class Compiler {
 public:
  Compiler(const FactoryContext& ctx, bool settings_ok, Plan& plan)
      : ctx_(ctx), settings_ok_(settings_ok), plan_(plan) {}

  bool run() {
    plan_.trie.emplace_back();
    depth_.push_back(0);
    plan_.scopes.emplace_back();
    plan_.entity_type = ref_for(absolute({"entityInformation", "entityType"}), {});
    plan_.entity_id = ref_for(absolute({"entityInformation", "entityId"}), {});
    plan_.loyalty_event_id = ref_for(absolute({"loyaltyEventId"}), {});

    const YAML::Node& settings = ctx_.settings;
    if (!settings.IsDefined() || !settings.IsMap()) {
      return false;  // parse_output_settings has said so
    }
    const YAML::Node outputs = settings["outputs"];
    if (!outputs.IsDefined()) {
      error(settings.Mark(),
            "`outputs` is required: a list of outputs, each with `kind` and "
            "`fields`");
    } else if (!outputs.IsSequence() || outputs.size() == 0) {
      error(outputs.Mark(), "`outputs` must be a non-empty list of outputs");
    } else {
      for (const auto& o : outputs) {
        output(o);
      }
      check_ids();
    }
    for (const std::size_t d : depth_) {
      plan_.max_depth = std::max(plan_.max_depth, d);
    }
    return ok_;
  }

 private:
  void error(const YAML::Mark& mark, std::string_view message) {
    ctx_.diagnostics.error(mark, fmt::format("mapping: {}", message));
    ok_ = false;
  }

  // ------------------------------------------------------------ pointers and the trie

  static Pointer absolute(std::initializer_list<std::string_view> segments) {
    Pointer p;
    for (const auto s : segments) {
      p = p.child(s);
    }
    return p;
  }

  bool pointer(const YAML::Node& node, std::string_view what, const Context& ctx, Pointer& out) {
    if (!node.IsScalar() || node.Scalar().empty()) {
      error(node.Mark(), fmt::format("`{}` must be a JSON pointer such as \"/customerIdentifiers\" "
                                     "(or \"@/name\" inside a split or array)",
                                     what));
      return false;
    }
    const std::string& s = node.Scalar();
    std::string_view rest = s;
    out = Pointer{};
    if (rest.front() == '@') {
      out.relative = true;
      rest.remove_prefix(1);
      if (!ctx.element) {
        error(node.Mark(), fmt::format("`{}` \"{}\" is relative to an element (`@`), but there "
                                       "is no `split` or `array` element here",
                                       what, s));
        return false;
      }
    }
    if (rest.empty()) {
      if (out.relative) {
        return true;
      }
    }
    if (rest.empty() || rest.front() != '/') {
      error(node.Mark(), fmt::format("`{}` \"{}\" is not a JSON pointer: it must start with `/` "
                                     "(into data) or `@/` (into the current element)",
                                     what, s));
      return false;
    }
    rest.remove_prefix(1);
    while (true) {
      const std::size_t slash = rest.find('/');
      const std::string_view raw = rest.substr(0, slash);
      std::string segment;
      for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '~') {
          segment.push_back(raw[i]);
        } else if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
          segment.push_back(raw[i + 1] == '0' ? '~' : '/');
          ++i;
        } else {
          error(node.Mark(), fmt::format("`{}` \"{}\": `~` must be followed by 0 (for ~) or 1 "
                                         "(for /)",
                                         what, s));
          return false;
        }
      }
      if (values::trim(segment) != segment) {
        error(node.Mark(), fmt::format("`{}` \"{}\": a segment starts or ends with blanks (keys "
                                       "are matched after trimming)",
                                       what, s));
        return false;
      }
      out = out.child(segment);
      if (slash == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(slash + 1);
    }
    if (out.segments.size() > kMaxPointerDepth) {
      error(node.Mark(),
            fmt::format("`{}` \"{}\" is deeper than {} levels", what, s, kMaxPointerDepth));
      return false;
    }
    return true;
  }

  std::uint32_t node_for(const Pointer& p, const Context& ctx) {
    std::uint32_t node = p.relative ? plan_.scopes[ctx.scope].root : 0;
    for (const std::string& segment : p.segments) {
      std::uint32_t next = 0;
      bool found = false;
      for (const TrieChild& c : plan_.trie[node].children) {
        if (c.key == segment) {
          next = c.node;
          found = true;
          break;
        }
      }
      if (!found) {
        next = static_cast<std::uint32_t>(plan_.trie.size());
        TrieNode n;
        n.scope = plan_.trie[node].scope;
        plan_.trie.push_back(std::move(n));
        depth_.push_back(depth_[node] + 1);
        const std::int64_t index = is_index(segment) ? std::stoll(segment) : -1;
        plan_.trie[node].children.push_back({segment, index, next});
      }
      node = next;
    }
    return node;
  }

  Ref ref_at(std::uint32_t node, std::string display) {
    TrieNode& n = plan_.trie[node];
    if (n.slot < 0) {
      n.slot = static_cast<std::int32_t>(plan_.scopes[n.scope].slot_count++);
    }
    return Ref{n.scope, static_cast<std::uint32_t>(n.slot), std::move(display)};
  }

  Ref ref_for(const Pointer& p, const Context& ctx) { return ref_at(node_for(p, ctx), p.display); }

  // The scope whose elements are the elements of the array at `node`.
  std::uint32_t iterate(std::uint32_t node, const std::string& display) {
    if (plan_.trie[node].iteration >= 0) {
      return static_cast<std::uint32_t>(plan_.trie[node].iteration);
    }
    const auto scope = static_cast<std::uint32_t>(plan_.scopes.size());
    const auto root = static_cast<std::uint32_t>(plan_.trie.size());
    Scope s;
    s.parent = plan_.trie[node].scope;
    s.root = root;
    s.display = display;
    plan_.scopes.push_back(std::move(s));
    TrieNode element;
    element.scope = scope;
    plan_.trie.push_back(std::move(element));
    depth_.push_back(depth_[node] + 1);
    plan_.trie[node].iteration = static_cast<std::int32_t>(scope);
    return scope;
  }

  // ------------------------------------------------------------ values and conditions

  bool constant(const YAML::Node& node, std::string_view what, Source& out) {
    if (node.IsNull()) {
      error(node.Mark(), fmt::format("`{}` is null: Platform rejects null values (leave the "
                                     "field out instead)",
                                     what));
      return false;
    }
    if (!node.IsScalar()) {
      error(node.Mark(), fmt::format("`{}` must be a scalar (a string, number or boolean)", what));
      return false;
    }
    out.from = Source::From::constant;
    out.constant_text = node.Scalar();
    const bool plain = node.Tag() == "?";
    const std::string& s = out.constant_text;
    if (plain && (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" ||
                  s == "FALSE")) {
      out.constant_kind = JsonKind::boolean;
      out.constant_truth = s[0] == 't' || s[0] == 'T';
    } else if (plain && (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL")) {
      error(node.Mark(), fmt::format("`{}` is null: Platform rejects null values (leave the "
                                     "field out instead)",
                                     what));
      return false;
    } else if (plain && values::is_json_number(s)) {
      out.constant_kind = JsonKind::number;
    } else {
      out.constant_kind = JsonKind::string;
    }
    return true;
  }

  bool envelope(const YAML::Node& node, Source& out) {
    const std::string name = node.IsScalar() ? node.Scalar() : std::string();
    for (const auto& e : kEnvelopeNames) {
      if (e.name == name) {
        out.from = Source::From::envelope;
        out.envelope = e.field;
        return true;
      }
    }
    std::string known;
    for (const auto& e : kEnvelopeNames) {
      known += known.empty() ? "" : ", ";
      known += e.name;
    }
    error(node.Mark(),
          fmt::format("`from_envelope` '{}' is not an envelope field (known: {})", name, known));
    return false;
  }

  // A constant converted once now, so a bad `value` or `default` fails at startup.
  bool check_constant(const YAML::Node& node, std::string_view what, const Source& c, Type type) {
    Value v;
    v.kind = c.constant_kind;
    v.text = c.constant_text;
    v.truth = c.constant_truth;
    if (is_blank(v)) {
      error(node.Mark(), fmt::format("`{}` is blank: Platform rejects empty values", what));
      return false;
    }
    Converted converted;
    const Status st = converter_.convert(v, type, 0, {}, converted);
    if (st != Status::ok) {
      error(node.Mark(), fmt::format("`{}` '{}' is not a valid {} value", what, c.constant_text,
                                     type_name(type)));
      return false;
    }
    return true;
  }

  void conditions(const YAML::Node& node, const Context& ctx, std::vector<Condition>& out) {
    if (node.IsMap()) {
      condition(node, ctx, out);
    } else if (node.IsSequence() && node.size() > 0) {
      for (const auto& c : node) {
        condition(c, ctx, out);
      }
    } else {
      error(node.Mark(),
            "`when` must be a condition ({pointer: /x, equals: v}) or a list of "
            "conditions that must all hold");
    }
  }

  void condition(const YAML::Node& node, const Context& ctx, std::vector<Condition>& out) {
    if (!node.IsMap()) {
      error(node.Mark(), "a condition must be a map: {pointer: /x, equals: v}");
      return;
    }
    Condition c;
    int sources = 0;
    int ops = 0;
    bool ok = true;
    for (const auto& kv : node) {
      const std::string k = key_of(kv.first);
      const YAML::Node& v = kv.second;
      if (k == "pointer") {
        ++sources;
        Pointer p;
        if (pointer(v, "when.pointer", ctx, p)) {
          c.source.from = Source::From::data;
          c.source.ref = ref_for(p, ctx);
        } else {
          ok = false;
        }
      } else if (k == "from_envelope") {
        ++sources;
        ok = envelope(v, c.source) && ok;
      } else if (k == "equals" || k == "not_equals") {
        ++ops;
        c.op = k == "equals" ? Condition::Op::equals : Condition::Op::not_equals;
        ok = operand(v, k, c) && ok;
      } else if (k == "in") {
        ++ops;
        c.op = Condition::Op::in;
        if (!v.IsSequence() || v.size() == 0) {
          error(v.Mark(), "`in` must be a non-empty list of values");
          ok = false;
          continue;
        }
        for (const auto& item : v) {
          ok = operand(item, "in", c) && ok;
        }
      } else if (k == "exists") {
        ++ops;
        c.op = Condition::Op::exists;
        if (!v.IsScalar() || (v.Scalar() != "true" && v.Scalar() != "false")) {
          error(v.Mark(), "`exists` must be true or false");
          ok = false;
          continue;
        }
        c.exists = v.Scalar() == "true";
      } else {
        error(kv.first.Mark(), fmt::format("unknown condition key '{}' (known: pointer, "
                                           "from_envelope, equals, not_equals, in, exists)",
                                           k));
        ok = false;
      }
    }
    if (sources != 1) {
      error(node.Mark(), "a condition needs exactly one of `pointer` or `from_envelope`");
      ok = false;
    }
    if (ops != 1) {
      error(node.Mark(),
            "a condition needs exactly one of `equals`, `not_equals`, `in` or `exists`");
      ok = false;
    }
    if (ok) {
      out.push_back(std::move(c));
    }
  }

  bool operand(const YAML::Node& node, std::string_view what, Condition& c) {
    if (!node.IsScalar()) {
      error(node.Mark(), fmt::format("`{}` values must be scalars", what));
      return false;
    }
    Operand o;
    o.text = node.Scalar();
    if (values::is_json_number(o.text)) {
      o.number = values::to_double(o.text);
    }
    c.operands.push_back(std::move(o));
    return true;
  }

  // ------------------------------------------------------------ output trees

  std::uint32_t new_tree() {
    plan_.nodes.emplace_back();
    return static_cast<std::uint32_t>(plan_.nodes.size() - 1);
  }

  // Adds a leaf at `path` under `tree`. Implicit leaves conflict with what a user field wrote:
  // the problem is reported at that field.
  void insert(std::uint32_t tree, const std::vector<std::string>& path, std::int32_t field,
              const YAML::Mark& mark, bool implicit, std::string_view why) {
    std::uint32_t cur = tree;
    for (std::size_t i = 0; i < path.size(); ++i) {
      const bool last = i + 1 == path.size();
      std::int64_t found = -1;
      for (const std::uint32_t c : plan_.nodes[cur].children) {
        if (plan_.nodes[c].key == path[i]) {
          found = c;
          break;
        }
      }
      if (found >= 0) {
        const OutNode& other = plan_.nodes[static_cast<std::size_t>(found)];
        const std::string prefix = join_path(
            std::vector<std::string>(path.begin(), path.begin() + static_cast<long>(i) + 1));
        if (implicit) {
          if (other.field >= 0 || last) {
            error(other.mark, fmt::format("`{}` is written automatically ({}); remove this field",
                                          join_path(path), why));
            return;
          }
        } else if (other.field >= 0 && last) {
          error(mark, fmt::format("`to: {}` is already written by the field at line {}",
                                  join_path(path), other.mark.line + 1));
          return;
        } else if (other.field >= 0) {
          error(mark, fmt::format("`to: {}` needs `{}` to be an object, but the field at line {} "
                                  "writes a value there",
                                  join_path(path), prefix, other.mark.line + 1));
          return;
        } else if (last) {
          error(mark, fmt::format("`to: {}` is an object (the field at line {} writes inside it); "
                                  "it cannot also be a value",
                                  join_path(path), other.mark.line + 1));
          return;
        }
        cur = static_cast<std::uint32_t>(found);
        continue;
      }
      const auto created = static_cast<std::uint32_t>(plan_.nodes.size());
      OutNode n;
      n.key = path[i];
      n.implicit = implicit;
      n.mark = mark;
      n.field = last ? field : -1;
      plan_.nodes.push_back(std::move(n));
      auto& children = plan_.nodes[cur].children;
      // Implicit members go first inside an object (the tenant envelope fields before the
      // mapped ones, as the catalogue writes them); at the top level they go last.
      auto at = children.end();
      if (implicit && cur != tree) {
        at = std::find_if(children.begin(), children.end(),
                          [&](std::uint32_t c) { return !plan_.nodes[c].implicit; });
      }
      children.insert(at, created);
      cur = created;
    }
  }

  // `to:` → path segments. Top-level paths are checked against the output's kind.
  bool path(const YAML::Node& node, bool top_level, OutputKind kind,
            std::vector<std::string>& out) {
    if (!node.IsScalar() || node.Scalar().empty()) {
      error(node.Mark(), "`to` must be a dotted XDM path such as loyalty.points");
      return false;
    }
    const std::string& s = node.Scalar();
    out.clear();
    std::size_t start = 0;
    while (true) {
      const std::size_t dot = s.find('.', start);
      out.push_back(s.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (!plain_key(out.back()) || values::trim(out.back()) != out.back()) {
        error(node.Mark(), fmt::format("`to: {}`: every segment must be a non-empty name without "
                                       "blanks at its ends, quotes, backslashes or control "
                                       "characters",
                                       s));
        return false;
      }
      if (dot == std::string::npos) {
        break;
      }
      start = dot + 1;
    }
    if (!top_level) {
      if (out.front() == "$tenant") {
        error(node.Mark(), "`$tenant` only starts a path at the top of an output");
        return false;
      }
      return true;
    }
    std::string& first = out.front();
    const std::string& tenant = plan_.settings.tenant_key;
    if (first == "$tenant") {
      if (tenant.empty()) {
        return false;  // parse_output_settings has reported the missing or bad `tenant`
      }
      first = tenant;
      return true;
    }
    if (!tenant.empty() && first == tenant) {
      return true;
    }
    const bool event = kind == OutputKind::experience_event;
    if ((event && contains(kEventReserved, first)) || (!event && first == "identityMap")) {
      error(node.Mark(), fmt::format("`to: {}`: `{}` is written automatically", s, first));
      return false;
    }
    if (first.front() == '_') {
      error(node.Mark(), fmt::format("`to: {}`: the tenant object is `{}` (or write `$tenant`)", s,
                                     tenant.empty() ? "_<tenant>" : tenant));
      return false;
    }
    if (event ? !contains(kEventFields, first) : !contains(kProfileFields, first)) {
      error(node.Mark(), fmt::format("`to: {}`: `{}` is not a top-level field of an {} (known: {}, "
                                     "or $tenant)",
                                     s, first, event ? "ExperienceEvent" : "Individual Profile",
                                     event ? join(kEventFields) : join(kProfileFields)));
      return false;
    }
    return true;
  }

  void fields(const YAML::Node& list, const Context& ctx, std::uint32_t tree, bool top_level,
              OutputKind kind) {
    if (!list.IsSequence()) {
      error(list.Mark(), "`fields` must be a list of {to: ..., from: ...} entries");
      return;
    }
    for (const auto& f : list) {
      field(f, ctx, tree, top_level, kind);
    }
  }

  void field(const YAML::Node& node, const Context& ctx, std::uint32_t tree, bool top_level,
             OutputKind kind) {
    if (!node.IsMap()) {
      error(node.Mark(), "a field must be a map such as {to: loyalty.points, from: /points}");
      return;
    }
    static constexpr std::array<std::string_view, 9> kKeys = {
        "to", "from", "from_envelope", "value", "type", "default", "required", "when", "array"};
    bool ok = true;
    for (const auto& kv : node) {
      if (!contains(kKeys, key_of(kv.first))) {
        error(kv.first.Mark(),
              fmt::format("unknown field key '{}' (known: {})", key_of(kv.first), join(kKeys)));
        ok = false;
      }
    }
    Field f;
    std::vector<std::string> to;
    const YAML::Node to_node = node["to"];
    if (!to_node.IsDefined()) {
      error(node.Mark(), "a field needs `to` (the XDM path it writes)");
      ok = false;
    } else {
      ok = path(to_node, top_level, kind, to) && ok;
    }
    const YAML::Node from = node["from"];
    const YAML::Node from_envelope = node["from_envelope"];
    const YAML::Node value = node["value"];
    const YAML::Node type = node["type"];
    const YAML::Node fallback = node["default"];
    const YAML::Node required = node["required"];
    const YAML::Node when = node["when"];
    const YAML::Node array = node["array"];
    const int sources =
        int{from.IsDefined()} + int{from_envelope.IsDefined()} + int{value.IsDefined()};
    if (sources != 1) {
      error(node.Mark(),
            "a field needs exactly one of `from` (a pointer), `from_envelope` or "
            "`value` (a constant)");
      ok = false;
    }
    Pointer from_pointer;
    if (from.IsDefined()) {
      ok = pointer(from, "from", ctx, from_pointer) && ok;
    }
    if (type.IsDefined()) {
      if (array.IsDefined()) {
        error(type.Mark(), "`type` of an array goes inside `array` ({type: ...} for values)");
        ok = false;
      } else if (!type.IsScalar() || !parse_type(type.Scalar(), f.type)) {
        error(type.Mark(), fmt::format("unknown type '{}' (known: auto, string, trim, lower, "
                                       "upper, integer, number, boolean, date-time, "
                                       "date-end-of-day, phone-e164, email, id)",
                                       type.IsScalar() ? type.Scalar() : std::string("?")));
        ok = false;
      }
    }
    if (required.IsDefined()) {
      if (!required.IsScalar() || (required.Scalar() != "true" && required.Scalar() != "false")) {
        error(required.Mark(), "`required` must be true or false");
        ok = false;
      } else {
        f.required = required.Scalar() == "true";
      }
      if (value.IsDefined() || fallback.IsDefined()) {
        error(required.Mark(), "`required` makes no sense with `value` or `default`");
        ok = false;
      }
    }
    if (fallback.IsDefined()) {
      if (value.IsDefined() || array.IsDefined()) {
        error(fallback.Mark(), "`default` goes with `from` or `from_envelope` on a value field");
        ok = false;
      } else if (constant(fallback, "default", f.fallback)) {
        f.has_default = true;
        ok = check_constant(fallback, "default", f.fallback, f.type) && ok;
      } else {
        ok = false;
      }
    }
    if (when.IsDefined()) {
      conditions(when, ctx, f.when);
    }
    if (!ok) {
      ok_ = false;
      return;
    }
    if (from.IsDefined()) {
      f.source.from = Source::From::data;
    } else if (from_envelope.IsDefined()) {
      if (!envelope(from_envelope, f.source)) {
        return;
      }
    } else if (!constant(value, "value", f.source) ||
               !check_constant(value, "value", f.source, f.type)) {
      return;
    }

    if (array.IsDefined()) {
      if (!from.IsDefined()) {
        error(array.Mark(), "`array` needs `from` (the pointer of the array)");
        return;
      }
      const std::uint32_t node_index = node_for(from_pointer, ctx);
      f.source.ref = ref_at(node_index, from_pointer.display);
      f.array = true;
      f.array_scope = iterate(node_index, from_pointer.display);
      const Context inner{f.array_scope, true};
      if (!array_spec(array, inner, kind, f)) {
        return;
      }
    } else if (from.IsDefined()) {
      f.source.ref = ref_for(from_pointer, ctx);
    }
    plan_.fields.push_back(std::move(f));
    insert(tree, to, static_cast<std::int32_t>(plan_.fields.size() - 1), to_node.Mark(), false, {});
  }

  bool array_spec(const YAML::Node& node, const Context& inner, OutputKind kind, Field& f) {
    if (!node.IsMap()) {
      error(node.Mark(),
            "`array` must be a map: {fields: [...]} for objects or {type: ...} for "
            "values");
      return false;
    }
    bool ok = true;
    for (const auto& kv : node) {
      const std::string k = key_of(kv.first);
      if (k != "fields" && k != "type" && k != "when") {
        error(kv.first.Mark(),
              fmt::format("unknown array key '{}' (known: fields, type, when)", k));
        ok = false;
      }
    }
    const YAML::Node fields_node = node["fields"];
    const YAML::Node type = node["type"];
    if (fields_node.IsDefined() == type.IsDefined()) {
      error(node.Mark(),
            "`array` needs exactly one of `fields` (an object per element) or "
            "`type` (a value per element)");
      return false;
    }
    if (node["when"].IsDefined()) {
      conditions(node["when"], inner, f.element_when);
    }
    // The element itself: its kind is checked (objects) or it is the value (values).
    f.element = ref_at(plan_.scopes[inner.scope].root, {});
    if (type.IsDefined()) {
      if (!type.IsScalar() || !parse_type(type.Scalar(), f.element_type)) {
        error(type.Mark(),
              fmt::format("unknown type '{}'", type.IsScalar() ? type.Scalar() : std::string("?")));
        return false;
      }
      if (f.element_type == Type::boolean || f.element_type == Type::automatic) {
        // xdm::Writer has no keyless boolean; arrays of booleans are not an XDM pattern.
        error(type.Mark(),
              "arrays of booleans are not supported: give the elements a type "
              "(string, number, ...)");
        return false;
      }
      return ok;
    }
    f.element_objects = true;
    f.element_tree = new_tree();
    fields(fields_node, inner, f.element_tree, false, kind);
    return ok;
  }

  // ------------------------------------------------------------ outputs

  IdentityRefs identity(const Pointer& p, const Context& ctx) {
    IdentityRefs ids;
    ids.block = ref_for(p, ctx);
    ids.customer_id = ref_for(p.child("customerId"), ctx);
    static constexpr std::array<std::string_view, 2> kInstore = {"instore", "Instore"};
    for (std::size_t i = 0; i < kInstore.size(); ++i) {
      const Pointer in = p.child(kInstore[i]);
      IdentityRefs::Instore& r = ids.instore[i];
      r.block = ref_for(in, ctx);
      r.email = ref_for(in.child("email"), ctx);
      r.mobile = ref_for(in.child("mobile"), ctx);
      r.external_id = ref_for(in.child("externalId"), ctx);
      r.card_number = ref_for(in.child("cardnumber"), ctx);
      const Pointer cards = in.child("cardNumbers");
      const std::uint32_t cards_node = node_for(cards, ctx);
      r.cards = ref_at(cards_node, cards.display);
      const std::uint32_t scope = iterate(cards_node, cards.display);
      r.card = ref_at(plan_.scopes[scope].root, {});
    }
    return ids;
  }

  void output(const YAML::Node& node) {
    if (!node.IsMap()) {
      error(node.Mark(), "an output must be a map with `kind` and `fields`");
      return;
    }
    static constexpr std::array<std::string_view, 8> kKeys = {
        "kind",  "event_type", "id_suffix",       "identity",
        "split", "when",       "envelope_fields", "fields"};
    for (const auto& kv : node) {
      if (!contains(kKeys, key_of(kv.first))) {
        error(kv.first.Mark(),
              fmt::format("unknown output key '{}' (known: {})", key_of(kv.first), join(kKeys)));
      }
    }
    const std::size_t problems_before = ctx_.diagnostics.items().size();
    OutputSpec o;
    const YAML::Node kind = node["kind"];
    if (!kind.IsDefined()) {
      error(node.Mark(), "an output needs `kind` (experience_event or profile)");
      return;
    }
    if (kind.IsScalar() && kind.Scalar() == "experience_event") {
      o.kind = OutputKind::experience_event;
      o.target = plan_.settings.event_target;
    } else if (kind.IsScalar() && kind.Scalar() == "profile") {
      o.kind = OutputKind::profile;
      o.target = plan_.settings.profile_target;
    } else {
      error(kind.Mark(), fmt::format("`kind` '{}' is not one of experience_event, profile",
                                     kind.IsScalar() ? kind.Scalar() : std::string("?")));
      return;
    }
    const bool event = o.kind == OutputKind::experience_event;
    if (o.target == nullptr && settings_ok_) {
      error(kind.Mark(),
            fmt::format("this {} output needs `targets.{}`", kind.Scalar(), kind.Scalar()));
    }

    const YAML::Node event_type = node["event_type"];
    if (event && (!event_type.IsDefined() || !event_type.IsScalar() ||
                  values::trim(event_type.Scalar()).empty())) {
      error(event_type.IsDefined() ? event_type.Mark() : node.Mark(),
            "an experience_event output needs `event_type` (e.g. loyalty.streakLevelAchieved)");
    } else if (event) {
      o.event_type = values::trim(event_type.Scalar());
    } else if (event_type.IsDefined()) {
      error(event_type.Mark(), "`event_type` is for experience_event outputs");
    }
    const YAML::Node suffix = node["id_suffix"];
    if (suffix.IsDefined()) {
      if (!event) {
        error(suffix.Mark(), "`id_suffix` is for experience_event outputs (it changes `_id`)");
      } else if (!suffix.IsScalar() || values::trim(suffix.Scalar()).empty()) {
        error(suffix.Mark(), "`id_suffix` must be a non-empty string");
      } else {
        o.id_suffix = suffix.Scalar();
      }
    }

    Context ctx;
    const YAML::Node split = node["split"];
    if (split.IsDefined()) {
      Pointer p;
      if (pointer(split, "split", ctx, p)) {
        const std::uint32_t n = node_for(p, ctx);
        o.split = true;
        o.split_ref = ref_at(n, p.display);
        o.split_scope = iterate(n, p.display);
        o.split_element = ref_at(plan_.scopes[o.split_scope].root, {});
        ctx = Context{o.split_scope, true};
      }
    }
    const YAML::Node identity_node = node["identity"];
    Pointer identity_pointer = absolute({"customerIdentifiers"});
    if (identity_node.IsDefined() && !pointer(identity_node, "identity", ctx, identity_pointer)) {
      identity_pointer = absolute({"customerIdentifiers"});
    }
    o.identity = identity(identity_pointer, ctx);
    if (node["when"].IsDefined()) {
      conditions(node["when"], ctx, o.when);
    }
    bool envelope_fields = event;
    const YAML::Node env = node["envelope_fields"];
    if (env.IsDefined()) {
      if (!env.IsScalar() || (env.Scalar() != "true" && env.Scalar() != "false")) {
        error(env.Mark(), "`envelope_fields` must be true or false");
      } else {
        envelope_fields = env.Scalar() == "true";
      }
    }

    o.tree = new_tree();
    const YAML::Node list = node["fields"];
    if (list.IsDefined()) {
      fields(list, ctx, o.tree, true, o.kind);
    }
    if (envelope_fields && !plan_.settings.tenant_key.empty()) {
      static constexpr std::array<std::pair<std::string_view, EnvelopeField>, 6> kEnvelope = {{
          {"orgId", EnvelopeField::org_id},
          {"eventId", EnvelopeField::event_id},
          {"eventName", EnvelopeField::event_name},
          {"refId", EnvelopeField::ref_id},
          {"apiRequestId", EnvelopeField::api_request_id},
          {"loyaltyEventId", EnvelopeField::loyalty_event_id},
      }};
      for (const auto& [name, field] : kEnvelope) {
        implicit({plan_.settings.tenant_key, "capillary", std::string(name)}, field,
                 field == EnvelopeField::org_id ? Type::integer : Type::trim, o.tree,
                 "envelope_fields: true");
      }
    }
    if (!event) {
      implicit({"extSourceSystemAudit", "lastUpdatedDate"}, EnvelopeField::created_at, Type::string,
               o.tree, "createdAt, on every profile record");
    }
    plan_.outputs.push_back(std::move(o));
    output_marks_.push_back(node.Mark());
    clean_.push_back(ctx_.diagnostics.items().size() == problems_before);
  }

  void implicit(const std::vector<std::string>& path, EnvelopeField from, Type type,
                std::uint32_t tree, std::string_view why) {
    Field f;
    f.source.from = Source::From::envelope;
    f.source.envelope = from;
    f.type = type;
    plan_.fields.push_back(std::move(f));
    insert(tree, path, static_cast<std::int32_t>(plan_.fields.size() - 1), YAML::Mark::null_mark(),
           true, why);
  }

  // Two ExperienceEvents of one record with the same `_id` would be one event to Platform.
  void check_ids() {
    for (std::size_t i = 0; i < plan_.outputs.size(); ++i) {
      const OutputSpec& a = plan_.outputs[i];
      for (std::size_t j = 0; j < i; ++j) {
        const OutputSpec& b = plan_.outputs[j];
        if (clean_[i] && clean_[j] && a.kind == OutputKind::experience_event &&
            b.kind == OutputKind::experience_event && a.when.empty() && b.when.empty() &&
            a.split == b.split && a.id_suffix == b.id_suffix) {
          error(output_marks_[i], fmt::format("this experience_event output and the one at line "
                                              "{} would get the same `_id`: give one an "
                                              "`id_suffix` (or a `when`)",
                                              output_marks_[j].line + 1));
          break;
        }
      }
    }
  }

  const FactoryContext& ctx_;
  bool settings_ok_;
  Plan& plan_;
  bool ok_ = true;
  std::vector<std::size_t> depth_;        // per trie node, from `data`
  std::vector<YAML::Mark> output_marks_;  // per compiled output
  std::vector<bool> clean_;               // per compiled output: without problems
  Converter converter_;
};

}  // namespace

bool compile(const FactoryContext& ctx, bool settings_ok, Plan& plan) {
  try {
    Compiler c(ctx, settings_ok, plan);
    return c.run() && settings_ok;
  } catch (const std::exception& e) {
    ctx.diagnostics.error(ctx.settings, fmt::format("mapping: invalid settings: {}", e.what()));
    return false;
  }
}

namespace {

// What a field writes: its `type:`, else the kind of its constant or envelope field; empty when
// only the data decides.
SchemaType field_schema_type(Type type, const Source& source) {
  if (type != Type::automatic) {
    return schema_type(type);
  }
  switch (source.from) {
    case Source::From::constant:
      switch (source.constant_kind) {
        case JsonKind::string:
          return {"string", ""};
        case JsonKind::boolean:
          return {"boolean", ""};
        case JsonKind::number:
          return {
              source.constant_text.find_first_of(".eE") == std::string::npos ? "integer" : "number",
              ""};
        default:
          return {};
      }
    case Source::From::envelope:
      return source.envelope == EnvelopeField::org_id       ? SchemaType{"integer", ""}
             : source.envelope == EnvelopeField::created_at ? SchemaType{"string", "date-time"}
                                                            : SchemaType{"string", ""};
    default:
      return {};  // a value from `data` keeps whatever JSON type it has
  }
}

void tenant_walk(const Plan& plan, std::uint32_t node, const std::string& path, OutputKind kind,
                 std::vector<TenantField>& out) {
  const OutNode& n = plan.nodes[node];
  if (n.field < 0) {
    for (const std::uint32_t child : n.children) {
      const std::string& key = plan.nodes[child].key;
      tenant_walk(plan, child, path.empty() ? key : path + "." + key, kind, out);
    }
    return;
  }
  const Field& f = plan.fields[static_cast<std::size_t>(n.field)];
  const std::string origin =
      n.mark.is_null() ? std::string("envelope_fields") : fmt::format("line {}", n.mark.line + 1);
  if (f.array && f.element_objects) {
    tenant_walk(plan, f.element_tree, path + "[]", kind, out);
    return;
  }
  const SchemaType t =
      f.array ? schema_type(f.element_type)
              : field_schema_type(f.type, f.has_default && f.source.from == Source::From::none
                                              ? f.fallback
                                              : f.source);
  out.push_back(
      {kind, f.array ? path + "[]" : path, std::string(t.type), std::string(t.format), origin});
}

}  // namespace

std::vector<TenantField> tenant_fields(const Plan& plan) {
  std::vector<TenantField> out;
  if (plan.settings.tenant_key.empty()) {
    return out;
  }
  for (const OutputSpec& o : plan.outputs) {
    for (const std::uint32_t child : plan.nodes[o.tree].children) {
      if (plan.nodes[child].key == plan.settings.tenant_key) {
        tenant_walk(plan, child, "", o.kind, out);
      }
    }
  }
  return out;
}

}  // namespace transforms::mapping

#include "bridge/xed/xed.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <locale>
#include <optional>
#include <utility>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "bridge/xed/valijson_text.h"

namespace bridge::xed {

std::string_view profile_schema_json();  // embedded schemas/profile.schema.json
std::string_view event_schema_json();    // embedded schemas/experience-event.schema.json

namespace {

enum class Class { profile, event };

// Which top-level fields of its class's schema each standard resource brings (the $ids the
// schemas' descriptions name). A test checks that every field of both schemas is brought by one.
struct Standard {
  std::string_view id;
  std::vector<std::string_view> fields;
};

const std::vector<Standard>& standards() {
  static const std::vector<Standard> table = {
      {kProfileClass, {"_id", "personID"}},
      {kEventClass, {"_id", "timestamp", "eventType", "producedBy", "eventMergeId"}},
      {kIdentityMap, {"identityMap"}},
      {"https://ns.adobe.com/xdm/context/profile-person-details", {"person"}},
      {"https://ns.adobe.com/xdm/context/profile-personal-details",
       {"personalEmail", "mobilePhone", "homePhone", "faxPhone", "shippingAddressPhone",
        "billingAddressPhone"}},
      {"https://ns.adobe.com/xdm/mixins/profile/profile-loyalty-details", {"loyalty"}},
      {"https://ns.adobe.com/xdm/common/external-source-system-audit-details",
       {"extSourceSystemAudit"}},
      {"https://ns.adobe.com/xdm/context/experienceevent-commerce",
       {"commerce", "productListItems"}},
      {"https://ns.adobe.com/xdm/context/experienceevent-loyalty-details", {"loyalty"}},
  };
  return table;
}

const json& class_schema(Class c) {
  static const json profile = json::parse(profile_schema_json());
  static const json event = json::parse(event_schema_json());
  return c == Class::profile ? profile : event;
}

// `node` with every local `#/definitions/x` reference replaced by the definition (sibling
// keywords such as `description` kept). The contract schemas are not recursive; depth is capped
// anyway.
json inline_refs(const json& node, const json& definitions, int depth = 0) {
  if (depth > 32) {
    return node;
  }
  if (node.is_array()) {
    json out = json::array();
    for (const auto& item : node) {
      out.push_back(inline_refs(item, definitions, depth + 1));
    }
    return out;
  }
  if (!node.is_object()) {
    return node;
  }
  json out = json::object();
  if (const auto ref = node.find("$ref"); ref != node.end() && ref->is_string()) {
    constexpr std::string_view kPrefix = "#/definitions/";
    const std::string target = ref->get<std::string>();
    if (target.starts_with(kPrefix) && definitions.contains(target.substr(kPrefix.size()))) {
      out = inline_refs(definitions.at(target.substr(kPrefix.size())), definitions, depth + 1);
    }
  }
  for (const auto& [key, value] : node.items()) {
    if (key != "$ref") {
      out[key] = inline_refs(value, definitions, depth + 1);
    }
  }
  return out;
}

// Closes every object schema that declares `properties` and says nothing about others.
void close_objects(json& node) {
  if (node.is_array()) {
    for (auto& item : node) {
      close_objects(item);
    }
    return;
  }
  if (!node.is_object()) {
    return;
  }
  if (node.contains("properties") && !node.contains("additionalProperties") &&
      !node.contains("patternProperties")) {
    node["additionalProperties"] = false;
  }
  for (auto& [key, value] : node.items()) {
    if (key != "enum" && key != "const" && key != "default" && key != "examples") {
      close_objects(value);
    }
  }
}

std::string pointer_of(const std::vector<std::string>& context) {
  // valijson's context: "<root>", then "[name]" or "[index]" per level.
  std::string out = "#";
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string_view token = context[i];
    if (token.size() >= 2 && token.front() == '[' && token.back() == ']') {
      token = token.substr(1, token.size() - 2);
    }
    out += '/';
    for (const char c : token) {  // RFC 6901 escaping
      out += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
    }
  }
  return out;
}

std::string keyword_of(std::string_view description) {
  constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kKeywords = {{
      {"'type'", "type"},
      {"enum", "enum"},
      {"pattern", "pattern"},
      {"format", "format"},
      {"required", "required"},
      {"minimum", "minimum"},
      {"maximum", "maximum"},
      {"minLength", "minLength"},
      {"maxLength", "maxLength"},
      {"least", "minLength"},
  }};
  for (const auto& [needle, keyword] : kKeywords) {
    if (description.find(needle) != std::string_view::npos) {
      return std::string(keyword);
    }
  }
  return "schema";
}

// `#/properties/a/properties/b` for `#/a/b`; array indexes become `items`.
std::string schema_location(const std::string& pointer) {
  std::string out = "#";
  std::size_t at = 2;
  while (at <= pointer.size() && pointer.size() > 1) {
    const auto slash = pointer.find('/', at);
    const std::string token = pointer.substr(at, slash == std::string::npos ? slash : slash - at);
    const bool index = !token.empty() && std::all_of(token.begin(), token.end(),
                                                     [](char c) { return c >= '0' && c <= '9'; });
    out += index ? "/items" : "/properties/" + token;
    if (slash == std::string::npos) {
      break;
    }
    at = slash + 1;
  }
  return out;
}

}  // namespace

const std::vector<std::string_view>& standard_ids() {
  static const std::vector<std::string_view> ids = [] {
    std::vector<std::string_view> out;
    for (const auto& s : standards()) {
      out.push_back(s.id);
    }
    return out;
  }();
  return ids;
}

bool is_standard(std::string_view id) {
  const auto& ids = standard_ids();
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

core::Result<json> resolve(const std::vector<std::string>& extends,
                           const std::function<const json*(const std::string&)>& tenant_group) {
  std::optional<Class> klass;
  for (const auto& id : extends) {
    if (id == kProfileClass || id == kEventClass) {
      if (klass) {
        return core::fail(core::ErrorKind::permanent, "xed-two-classes",
                          "a schema extends exactly one class");
      }
      klass = id == kProfileClass ? Class::profile : Class::event;
    }
  }
  if (!klass) {
    return core::fail(core::ErrorKind::permanent, "xed-no-class",
                      "a schema extends one class (profile or experienceevent)");
  }
  const json& source = class_schema(*klass);
  const json& definitions = source.at("definitions");
  json out = {{"type", "object"}, {"properties", json::object()}};
  if (source.contains("required")) {
    out["required"] = source.at("required");
  }
  for (const auto& id : extends) {
    const auto standard = std::find_if(standards().begin(), standards().end(),
                                       [&](const Standard& s) { return s.id == id; });
    if (standard != standards().end()) {
      for (const auto field : standard->fields) {
        const std::string name(field);
        if (source.at("properties").contains(name)) {
          out["properties"][name] = inline_refs(source.at("properties").at(name), definitions);
        }
      }
      continue;
    }
    const json* group = tenant_group(id);
    if (group == nullptr) {
      return core::fail(
          core::ErrorKind::permanent, "xed-unknown-resource",
          fmt::format("'{}' is neither a standard resource nor a tenant field group", id));
    }
    const json definitions_of_group = group->value("definitions", json::object());
    for (const auto& [name, def] : definitions_of_group.items()) {
      if (def.is_object() && def.contains("properties")) {
        out["properties"].merge_patch(def.at("properties"));
      }
    }
  }
  return out;
}

struct Validator::Impl {
  json document;  // kept alive for the lifetime of schema
  valijson::Schema schema;
};

Validator::Validator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Validator::~Validator() = default;

core::Result<std::shared_ptr<const Validator>> Validator::compile(const json& resolved) {
  // std::regex (valijson's patterns and formats) reads the locale's ctype<char>::narrow, which
  // fills a cache on first use of each character: threads compiling their first regexes at once
  // race on it (libstdc++ PR 77704; TSan reports it). Filling it here, before any validate(),
  // leaves nothing to write later.
  static const bool narrow_cache_filled = [] {
    const auto& ctype = std::use_facet<std::ctype<char>>(std::locale());
    for (int c = 0; c < 256; ++c) {
      (void)ctype.narrow(static_cast<char>(c), '\0');
    }
    return true;
  }();
  (void)narrow_cache_filled;
  auto impl = std::make_unique<Impl>();
  impl->document = resolved;
  close_objects(impl->document);
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    const valijson::adapters::NlohmannJsonAdapter adapter(impl->document);
    parser.populateSchema(adapter, impl->schema);
  } catch (const std::exception& e) {
    return core::fail(core::ErrorKind::permanent, "xed-schema-unusable",
                      fmt::format("the schema cannot be used for validation: {}", e.what()));
  }
  return std::shared_ptr<const Validator>(new Validator(std::move(impl)));
}

std::vector<Violation> Validator::validate(const json& entity) const {
  // A valijson Validator keeps a cache of compiled regexes, keyed by pattern text: one per
  // thread keeps validate() const and thread-safe and compiles each pattern once per thread
  // (compiling them on every call cost 95% of the time: 834 -> 43 us per transactionAdded).
  thread_local valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  const valijson::adapters::NlohmannJsonAdapter adapter(entity);
  try {
    validator.validate(impl_->schema, adapter, &results);
  } catch (const std::exception& e) {
    return {{"#", "schema", fmt::format("validation failed: {}", e.what())}};
  }
  std::vector<valijson::ValidationResults::Error> errors;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    errors.push_back(error);
  }
  const bool all_wrappers = std::all_of(errors.begin(), errors.end(), [](const auto& e) {
    return is_valijson_wrapper(e.description);
  });
  std::vector<Violation> out;
  for (const auto& e : errors) {
    if (!all_wrappers && is_valijson_wrapper(e.description)) {
      continue;
    }
    Violation v;
    v.pointer = pointer_of(e.context);
    if (const auto key = valijson_unknown_property(e.description)) {
      v.keyword = "additionalProperties";
      v.message = fmt::format("extraneous key [{}] is not permitted", *key);
    } else {
      v.keyword = keyword_of(e.description);
      v.message = e.description;
    }
    const bool seen = std::any_of(out.begin(), out.end(), [&](const Violation& o) {
      return o.pointer == v.pointer && o.message == v.message;
    });
    if (!seen) {
      out.push_back(std::move(v));
    }
  }
  return out;
}

json streaming_validation(const std::vector<Violation>& violations) {
  constexpr std::size_t kMaxCauses = 5;  // Platform stops after 5 errors per message
  json causes = json::array();
  for (std::size_t i = 0; i < violations.size() && i < kMaxCauses; ++i) {
    const Violation& v = violations[i];
    causes.push_back({{"schemaLocation", schema_location(v.pointer)},
                      {"pointerToViolation", v.pointer},
                      {"causingExceptions", json::array()},
                      {"keyword", v.keyword},
                      {"message", v.message}});
  }
  return {{"schemaLocation", "#"},
          {"pointerToViolation", "#"},
          {"causingExceptions", causes},
          {"message", fmt::format("{} schema violations found", causes.size())}};
}

}  // namespace bridge::xed

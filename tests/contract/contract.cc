#include "tests/contract/contract.h"

#include <cstdlib>
#include <set>
#include <stdexcept>
#include <utility>

#include "tests/contract/json_schema.h"

namespace tests::contract {
namespace {

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\n\r\f\v") == std::string_view::npos;
}

// Every value: no null, no blank string, no empty object or array, no duplicate key.
void check_values(const rapidjson::Value& value, const std::string& path,
                  std::vector<std::string>& errors) {
  if (value.IsNull()) {
    errors.push_back(path + ": null (Platform rejects null values: omit the key)");
  } else if (value.IsString()) {
    const std::string_view s(value.GetString(), value.GetStringLength());
    if (s.empty()) {
      errors.push_back(path + ": empty string (Platform rejects empty values: omit the key)");
    } else if (blank(s)) {
      errors.push_back(path + ": whitespace-only string (an empty value: omit the key)");
    }
  } else if (value.IsObject()) {
    if (value.MemberCount() == 0) {
      errors.push_back(path + ": empty object {} (Platform rejects empty values: omit it)");
    }
    std::set<std::string_view> seen;
    for (const auto& member : value.GetObject()) {
      const std::string_view key(member.name.GetString(), member.name.GetStringLength());
      std::string child = path;
      detail::append_key(child, key);
      if (!seen.insert(key).second) {
        errors.push_back(child + ": duplicate key");
      }
      check_values(member.value, child, errors);
    }
  } else if (value.IsArray()) {
    if (value.Empty()) {
      errors.push_back(path + ": empty array [] (Platform rejects empty values: omit it)");
    }
    for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
      std::string child = path;
      detail::append_index(child, i);
      check_values(value[i], child, errors);
    }
  }
}

// Exactly one identity in identityMap with primary: true; every identity has an id.
void check_identities(const rapidjson::Value& document, std::vector<std::string>& errors) {
  const auto map = document.FindMember("identityMap");
  if (map == document.MemberEnd()) {
    errors.emplace_back("$.identityMap: missing (exactly one identity must be primary)");
    return;
  }
  if (!map->value.IsObject()) {
    return;  // the schema reports the type
  }
  std::vector<std::string> primaries;
  for (const auto& ns : map->value.GetObject()) {
    if (!ns.value.IsArray()) {
      continue;
    }
    for (rapidjson::SizeType i = 0; i < ns.value.Size(); ++i) {
      const rapidjson::Value& item = ns.value[i];
      if (!item.IsObject()) {
        continue;
      }
      std::string path = "$.identityMap";
      detail::append_key(path, {ns.name.GetString(), ns.name.GetStringLength()});
      detail::append_index(path, i);
      if (!item.HasMember("id")) {
        errors.push_back(path + ": identity without id");
      }
      const auto primary = item.FindMember("primary");
      if (primary != item.MemberEnd() && primary->value.IsTrue()) {
        primaries.push_back(path);
      }
    }
  }
  if (primaries.empty()) {
    errors.emplace_back("$.identityMap: no identity has primary: true (exactly one must)");
  } else if (primaries.size() > 1) {
    std::string list;
    for (const auto& p : primaries) {
      list += (list.empty() ? "" : ", ") + p;
    }
    errors.push_back("$.identityMap: " + std::to_string(primaries.size()) +
                     " identities have primary: true (" + list + "); exactly one must");
  }
}

std::vector<std::string> apply_platform_rules(Kind kind, const rapidjson::Document& document) {
  std::vector<std::string> errors;
  if (!document.IsObject()) {
    errors.emplace_back("$: not a JSON object");
    return errors;
  }
  check_values(document, "$", errors);
  check_identities(document, errors);
  if (kind == Kind::experience_event) {
    for (const char* field : {"_id", "timestamp"}) {
      if (!document.HasMember(field)) {
        errors.push_back(std::string("$.") + field + ": missing (an experience event needs it)");
      }
    }
  }
  return errors;
}

// Top-level `_<name>` keys other than `_id` are tenant objects; a Platform schema has one
// tenant namespace.
void check_single_tenant(const rapidjson::Document& document, std::vector<std::string>& errors) {
  if (!document.IsObject()) {
    return;
  }
  std::string tenants;
  int count = 0;
  for (const auto& member : document.GetObject()) {
    const std::string_view key(member.name.GetString(), member.name.GetStringLength());
    if (key.size() > 1 && key.front() == '_' && key != "_id") {
      tenants += (count++ == 0 ? "" : ", ") + std::string(key);
    }
  }
  if (count > 1) {
    errors.push_back("$: more than one tenant object (" + tenants +
                     "); a Platform schema has one tenant namespace");
  }
}

std::filesystem::path env_path(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::filesystem::path(value)
                                            : std::filesystem::path();
}

}  // namespace

std::string_view to_string(Kind kind) {
  return kind == Kind::profile ? "profile" : "experience-event";
}

struct Contract::Impl {
  std::unique_ptr<const detail::CompiledSchema> profile;
  std::unique_ptr<const detail::CompiledSchema> experience_event;

  [[nodiscard]] const detail::CompiledSchema& schema(Kind kind) const {
    return kind == Kind::profile ? *profile : *experience_event;
  }
};

Contract::Contract(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Contract::~Contract() = default;
Contract::Contract(Contract&&) noexcept = default;
Contract& Contract::operator=(Contract&&) noexcept = default;

Contract Contract::load(const std::filesystem::path& schema_dir) {
  auto compile = [&](Kind kind) {
    const std::filesystem::path file = schema_dir / (std::string(to_string(kind)) + ".schema.json");
    const std::string what = "contract schema " + file.string();
    rapidjson::Document document;
    if (auto error = detail::parse(detail::read_file(file), document)) {
      throw std::runtime_error(what + ": " + *error);
    }
    return std::make_unique<const detail::CompiledSchema>(std::move(document), what);
  };
  auto impl = std::make_unique<Impl>();
  impl->profile = compile(Kind::profile);
  impl->experience_event = compile(Kind::experience_event);
  return Contract(std::move(impl));
}

std::vector<std::string> Contract::check(Kind kind, std::string_view json) const {
  rapidjson::Document document;
  if (auto error = detail::parse(json, document)) {
    return {"$: " + *error};
  }
  std::vector<std::string> errors = impl_->schema(kind).validate(document);
  check_single_tenant(document, errors);
  for (auto& e : apply_platform_rules(kind, document)) {
    errors.push_back(std::move(e));
  }
  return errors;
}

std::vector<std::string> platform_rules(Kind kind, std::string_view json) {
  rapidjson::Document document;
  if (auto error = detail::parse(json, document)) {
    return {"$: " + *error};
  }
  return apply_platform_rules(kind, document);
}

struct TenantFields::Impl {
  std::unique_ptr<const detail::CompiledSchema> experience_event;
};

TenantFields::TenantFields(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {}
TenantFields::~TenantFields() = default;
TenantFields::TenantFields(TenantFields&&) noexcept = default;
TenantFields& TenantFields::operator=(TenantFields&&) noexcept = default;

TenantFields TenantFields::load(const std::filesystem::path& declaration) {
  const std::string what = "tenant field declaration " + declaration.string();
  rapidjson::Document whole;
  if (auto error = detail::parse(detail::read_file(declaration), whole)) {
    throw std::runtime_error(what + ": " + *error);
  }
  const auto event = whole.FindMember("experience_event");
  if (!whole.IsObject() || event == whole.MemberEnd() || !event->value.IsObject()) {
    throw std::runtime_error(what + ": no experience_event object");
  }
  rapidjson::Document schema;
  schema.CopyFrom(event->value, schema.GetAllocator());
  auto impl = std::make_unique<Impl>();
  impl->experience_event = std::make_unique<const detail::CompiledSchema>(std::move(schema), what);
  return TenantFields(std::move(impl));
}

std::vector<std::string> TenantFields::check(Kind kind, std::string_view json) const {
  rapidjson::Document document;
  if (auto error = detail::parse(json, document)) {
    return {"$: " + *error};
  }
  std::vector<std::string> errors;
  if (!document.IsObject()) {
    return errors;
  }
  for (const auto& member : document.GetObject()) {
    const std::string_view key(member.name.GetString(), member.name.GetStringLength());
    if (!key.starts_with('_') || key == "_id" || !member.value.IsObject()) {
      continue;
    }
    const auto capillary = member.value.FindMember("capillary");
    if (capillary == member.value.MemberEnd()) {
      continue;
    }
    std::string prefix = "$";
    detail::append_key(prefix, key);
    detail::append_key(prefix, "capillary");
    if (kind == Kind::profile) {
      errors.push_back(prefix + ": profile records declare no capillary tenant fields");
      continue;
    }
    for (auto& e : impl_->experience_event->validate(capillary->value)) {
      errors.push_back(prefix + e.substr(e.starts_with('$') ? 1 : 0));
    }
  }
  return errors;
}

std::filesystem::path tenant_fields_file() {
  const std::filesystem::path source = env_path("BRIDGE_SOURCE_DIR");
  if (source.empty()) {
    throw std::runtime_error(
        "BRIDGE_SOURCE_DIR is not set: run this test through ctest (it sets it)");
  }
  return source / "transforms" / "capillary" / "tenant-fields.json";
}

std::filesystem::path schema_dir() {
  const std::filesystem::path source = env_path("BRIDGE_SOURCE_DIR");
  if (source.empty()) {
    throw std::runtime_error(
        "BRIDGE_SOURCE_DIR is not set: run this test through ctest (it sets it)");
  }
  return source / "bridge" / "xed" / "schemas";
}

std::filesystem::path shared_xdm_dir() {
  if (auto dir = env_path("BRIDGE_SHARED_XDM_DIR"); !dir.empty()) {
    return dir;
  }
  const std::filesystem::path source = env_path("BRIDGE_SOURCE_DIR");
  if (source.empty()) {
    throw std::runtime_error(
        "neither BRIDGE_SHARED_XDM_DIR nor BRIDGE_SOURCE_DIR is set: run this test through ctest");
  }
  return source / ".." / "shared" / "xdm";
}

}  // namespace tests::contract

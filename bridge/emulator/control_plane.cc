#include "bridge/emulator/control_plane.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string_view>

#include "bridge/xed/xed.h"

namespace bridge::emulator {
namespace {

using nlohmann::json;

constexpr std::string_view kRegistry = "/data/foundation/schemaregistry";
constexpr std::string_view kIdentity = "/data/core/idnamespace/identities";
constexpr std::string_view kCatalog = "/data/foundation/catalog/dataSets";
constexpr std::string_view kFlows = "/data/foundation/flowservice";
constexpr std::string_view kSandboxes = "/data/foundation/sandbox-management";

using xed::kEventClass;
using xed::kIdentityMap;
using xed::kProfileClass;
constexpr std::string_view kHttpApiSpec = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

CpAnswer answer(int status, const json& body) {
  return {status, body.dump(), {}};
}

// Schema Registry's problem body (reference §1.2).
CpAnswer registry_error(int status, std::string_view code, std::string_view title,
                        const std::string& detail) {
  return answer(status, {{"type", fmt::format("http://ns.adobe.com/aep/errors/{}", code)},
                         {"title", title},
                         {"status", status},
                         {"report", {{"detailed-message", detail}, {"sub-errors", json::array()}}},
                         {"detail", detail}});
}

// Everything else: a problem body with the same fields (Catalog and Flow Service bodies are
// UNCONFIRMED, reference §9.2; clients must classify on status).
CpAnswer problem(int status, std::string_view title, const std::string& detail) {
  return answer(status, {{"type", "https://ns.adobe.com/aep/errors/emulator"},
                         {"title", title},
                         {"status", status},
                         {"detail", detail}});
}

CpAnswer gateway_error(int status, std::string_view code, std::string_view message) {
  return answer(status, {{"error_code", code}, {"message", message}});
}

const std::string* query_value(const CpRequest& r, std::string_view key) {
  for (const auto& [k, v] : r.query) {
    if (k == key) {
      return &v;
    }
  }
  return nullptr;
}

std::vector<std::string> query_values(const CpRequest& r, std::string_view key) {
  std::vector<std::string> out;
  for (const auto& [k, v] : r.query) {
    if (k == key) {
      out.push_back(v);
    }
  }
  return out;
}

std::string header(const CpRequest& r, const std::string& name) {
  const auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (true) {
    const auto next = s.find(sep, at);
    out.emplace_back(s.substr(at, next == std::string_view::npos ? s.npos : next - at));
    if (next == std::string_view::npos) {
      return out;
    }
    at = next + 1;
  }
}

// A value at a dotted path; "a.b[]" walks into every element of array b.
void values_at(const json& node, const std::vector<std::string>& parts, std::size_t i,
               std::vector<const json*>& out) {
  if (i == parts.size()) {
    out.push_back(&node);
    return;
  }
  std::string key = parts[i];
  const bool each = key.ends_with("[]");
  if (each) {
    key.resize(key.size() - 2);
  }
  if (!node.is_object() || !node.contains(key)) {
    return;
  }
  const json& child = node.at(key);
  if (each || child.is_array()) {
    if (child.is_array()) {
      for (const auto& element : child) {
        values_at(element, parts, i + 1, out);
      }
      if (!each && i + 1 == parts.size()) {
        out.push_back(&child);
      }
      return;
    }
  }
  values_at(child, parts, i + 1, out);
}

std::string scalar_text(const json& v) {
  if (v.is_string()) {
    return v.get<std::string>();
  }
  return v.dump();
}

// `property` filters (reference §2.3, §5.6): `path==v1,v2` (any of), `path!=v`, `path` (exists).
// Several filters AND together.
bool matches(const json& object, const std::vector<std::string>& filters) {
  for (const auto& filter : filters) {
    const auto eq = filter.find("==");
    const auto ne = filter.find("!=");
    const auto op = std::min(eq, ne);
    const std::string path = filter.substr(0, op);
    std::vector<const json*> found;
    values_at(object, split(path, '.'), 0, found);
    if (op == std::string::npos) {
      if (found.empty()) {
        return false;
      }
      continue;
    }
    const std::string wanted = filter.substr(op + 2);
    const auto options = split(wanted, ',');
    bool any = false;
    for (const json* v : found) {
      if (v->is_array()) {
        continue;  // matched element by element
      }
      const std::string text = scalar_text(*v);
      any = any || std::find(options.begin(), options.end(), text) != options.end();
    }
    if ((op == eq) != any) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct ControlPlane::State {
  std::mt19937_64 rng{0x5eed};
  std::map<std::string, std::string> sandboxes;  // name -> state
  // Schema Registry: tenant resources by $id, in creation order.
  std::vector<std::string> order;
  std::map<std::string, json> resources;
  std::map<std::string, json> descriptors;  // @id -> descriptor
  json namespaces = json::array();
  std::int64_t next_namespace_id = 10093197;
  std::map<std::string, json> datasets;                             // id -> dataset
  std::map<std::string, std::map<std::string, json>> flow_objects;  // kind -> id -> object
  std::uint64_t writes = 0;
  // Streaming validation: compiled schemas by $id, valid while `writes` is validators_writes.
  std::map<std::string, std::shared_ptr<const xed::Validator>> validators;
  std::uint64_t validators_writes = 0;

  std::string hex(std::size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(kDigits[rng() & 15U]);
    }
    return out;
  }
  std::string uuid() {
    return fmt::format("{}-{}-4{}-a{}-{}", hex(8), hex(4), hex(3), hex(3), hex(12));
  }
  std::string etag() { return fmt::format("\"{}-0000-0200-0000-{}\"", hex(8), hex(12)); }
};

namespace {

// Resolved form (xed-full): every field of the standard groups (bridge/xed) and of the tenant
// field groups in `properties`, no $ref. Null when the schema cannot be resolved (a field group it
// extends was deleted).
json resolve_schema(const ControlPlane::State& s, const json& schema) {
  std::vector<std::string> extends;
  for (const auto& ref : schema.value("meta:extends", json::array())) {
    extends.push_back(ref.get<std::string>());
  }
  auto properties = xed::resolve(extends, [&s](const std::string& id) -> const json* {
    const auto it = s.resources.find(id);
    return it == s.resources.end() ? nullptr : &it->second;
  });
  if (!properties) {
    return nullptr;
  }
  json out = schema;
  out.erase("allOf");
  out.merge_patch(*properties);
  return out;
}

void seed(ControlPlane::State& s, const ControlPlaneOptions& options) {
  s = ControlPlane::State{};
  for (const auto& name : options.sandboxes) {
    s.sandboxes[name] = "active";
  }
  for (const char* kind : {"connections", "sourceConnections", "targetConnections", "flows"}) {
    s.flow_objects[kind];
  }
  // Standard namespaces (reference §3.1; only ECID's id 4 is documented, the others are ours).
  const auto standard = [&s](int id, const char* code, const char* name, const char* type) {
    s.namespaces.push_back({{"id", id},
                            {"code", code},
                            {"name", name},
                            {"description", fmt::format("{} namespace", name)},
                            {"idType", type},
                            {"status", "ACTIVE"},
                            {"custom", false},
                            {"createTime", 1495153678000},
                            {"updateTime", 1495153678000}});
  };
  standard(4, "ECID", "ECID", "COOKIE");
  standard(6, "Email", "Email", "Email");
  standard(7, "Phone", "Phone", "Phone");
  standard(411, "AAID", "Adobe Analytics (AAID)", "COOKIE");
}

}  // namespace

ControlPlane::ControlPlane(ControlPlaneOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {
  seed(*state_, options_);
}

ControlPlane::~ControlPlane() = default;

void ControlPlane::reset() {
  std::lock_guard lock(mu_);
  seed(*state_, options_);
}

void ControlPlane::set_sandbox_state(const std::string& name, const std::string& state) {
  std::lock_guard lock(mu_);
  state_->sandboxes[name] = state;
}

void ControlPlane::set_inlet_base_url(std::string url) {
  std::lock_guard lock(mu_);
  options_.inlet_base_url = std::move(url);
}

ControlPlane::DatasetSchema ControlPlane::dataset_schema(const std::string& dataset_id) {
  std::lock_guard lock(mu_);
  State& s = *state_;
  const auto ds = s.datasets.find(dataset_id);
  if (ds == s.datasets.end()) {
    return {};
  }
  const std::string schema_id =
      ds->second.value("schemaRef", json::object()).value("id", std::string());
  if (s.validators_writes != s.writes) {
    s.validators.clear();
    s.validators_writes = s.writes;
  }
  DatasetSchema out{true, schema_id, nullptr};
  if (const auto hit = s.validators.find(schema_id); hit != s.validators.end()) {
    out.validator = hit->second;
    return out;
  }
  const auto res = s.resources.find(schema_id);
  if (res == s.resources.end()) {
    return out;
  }
  const json full = resolve_schema(s, res->second);
  if (full.is_null()) {
    return out;
  }
  auto compiled = xed::Validator::compile(full);
  if (compiled) {
    out.validator = *compiled;
    s.validators[schema_id] = *compiled;
  }
  return out;
}

std::string ControlPlane::dump() const {
  std::lock_guard lock(mu_);
  const State& s = *state_;
  json out;
  out["tenantId"] = options_.tenant_id;
  out["writes"] = s.writes;
  out["sandboxes"] = s.sandboxes;
  json resources = json::array();
  for (const auto& id : s.order) {
    resources.push_back(s.resources.at(id));
  }
  out["schemaRegistry"] = {{"resources", resources}, {"descriptors", json::array()}};
  for (const auto& [id, d] : s.descriptors) {
    out["schemaRegistry"]["descriptors"].push_back(d);
  }
  json custom = json::array();
  for (const auto& ns : s.namespaces) {
    if (ns.value("custom", false)) {
      custom.push_back(ns);
    }
  }
  out["identity"] = {{"customNamespaces", custom}};
  out["catalog"] = {{"dataSets", s.datasets}};
  out["flowService"] = s.flow_objects;
  return out.dump();
}

namespace {

// Splits "/a/b/c" after `prefix` into its segments; the last segment keeps any '/' when `rest`
// is set (a URL-decoded $id like https://ns.adobe.com/t/schemas/x).
std::vector<std::string> segments(std::string_view path, std::size_t max_parts) {
  std::vector<std::string> out;
  while (!path.empty() && path.front() == '/') {
    path.remove_prefix(1);
  }
  while (!path.empty()) {
    if (out.size() + 1 == max_parts) {
      out.emplace_back(path);
      break;
    }
    const auto slash = path.find('/');
    out.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    path.remove_prefix(slash + 1);
  }
  return out;
}

class Handler {
 public:
  Handler(ControlPlane::State& s, const ControlPlaneOptions& o, const CpRequest& r)
      : s_(s), o_(o), r_(r) {}

  CpAnswer run() {
    if (auto refused = gateway()) {
      return *refused;
    }
    const std::string_view path = r_.path;
    if (path.starts_with(kSandboxes)) {
      return sandboxes(path.substr(kSandboxes.size()));
    }
    if (auto refused = sandbox_header()) {
      return *refused;
    }
    if ((r_.method == "POST" || r_.method == "PUT" || r_.method == "PATCH") && !r_.body.empty() &&
        header(r_, "content-type").empty()) {
      return answer(400, {{"type", "/placeholder/type/uri"},
                          {"status", 400},
                          {"title", "BadRequestError"},
                          {"detail", "A valid content-type must be specified"}});
    }
    if (path.starts_with(kRegistry)) {
      return registry(path.substr(kRegistry.size()));
    }
    if (path.starts_with(kIdentity)) {
      return identity(path.substr(kIdentity.size()));
    }
    if (path.starts_with(kCatalog)) {
      return catalog(path.substr(kCatalog.size()));
    }
    if (path.starts_with(kFlows)) {
      return flows(path.substr(kFlows.size()));
    }
    return problem(404, "Not Found", "no such control-plane endpoint");
  }

 private:
  ControlPlane::State& s_;
  const ControlPlaneOptions& o_;
  const CpRequest& r_;

  std::optional<json> body_json() const {
    try {
      return json::parse(r_.body);
    } catch (const json::parse_error&) {
      return std::nullopt;
    }
  }

  // Gateway checks in the order Adobe I/O applies them (reference §1.1).
  std::optional<CpAnswer> gateway() const {
    if (header(r_, "authorization").empty()) {
      return gateway_error(403, "403010", "Oauth token is missing.");
    }
    if (!r_.token_valid) {
      return gateway_error(401, "401013", "Oauth token is not valid");
    }
    const std::string key = header(r_, "x-api-key");
    if (key.empty()) {
      return gateway_error(403, "403000", "Api Key is required");
    }
    if (key != o_.api_key) {
      return gateway_error(403, "403003", "Api Key is invalid");
    }
    const std::string org = header(r_, "x-gw-ims-org-id");
    if (org.empty()) {
      return gateway_error(400, "400003", "Missing header");
    }
    if (!o_.org_id.empty() && org != o_.org_id) {
      return gateway_error(403, "403025", "Profile is not valid");
    }
    return std::nullopt;
  }

  // Every service but sandbox management needs an active sandbox. The status and body for an
  // unknown one are UNCONFIRMED (reference §6): 403 with a problem body naming it.
  std::optional<CpAnswer> sandbox_header() const {
    const std::string name = header(r_, "x-sandbox-name");
    if (name.empty()) {
      return problem(400, "Missing sandbox", "the x-sandbox-name header is required");
    }
    const auto it = s_.sandboxes.find(name);
    if (it == s_.sandboxes.end() || it->second != "active") {
      return problem(403, "Sandbox not accessible",
                     fmt::format("sandbox '{}' does not exist or is not active", name));
    }
    return std::nullopt;
  }

  // --- Sandbox management (reference §6) ---

  json sandbox_json(const std::string& name, const std::string& state) const {
    return {{"name", name},    {"title", name},
            {"state", state},  {"type", name == "prod" ? "production" : "development"},
            {"region", "VA7"}, {"isDefault", name == "prod"},
            {"eTag", 1}};
  }

  CpAnswer sandboxes(std::string_view rest) {
    if (r_.method != "GET") {
      return problem(405, "Method Not Allowed", "sandboxes are checked here, never changed");
    }
    const auto parts = segments(rest, 2);
    if (parts.empty() || (parts.size() == 1 && parts[0] == "sandboxes")) {
      json list = json::array();
      for (const auto& [name, state] : s_.sandboxes) {
        list.push_back(sandbox_json(name, state));
      }
      return answer(200, {{"sandboxes", list},
                          {"_page", {{"count", list.size()}, {"limit", 50}}},
                          {"_links", json::object()}});
    }
    if (parts[0] != "sandboxes" || parts.size() != 2) {
      return problem(404, "Not Found", "no such sandbox-management endpoint");
    }
    const auto it = s_.sandboxes.find(parts[1]);
    if (it == s_.sandboxes.end()) {
      // UNCONFIRMED status (reference §6, §9.8): 404.
      return problem(404, "Sandbox not found", fmt::format("no sandbox named '{}'", parts[1]));
    }
    return answer(200, sandbox_json(it->first, it->second));
  }

  // --- Schema Registry (reference §2) ---

  [[nodiscard]] std::string tenant_ns() const { return "_" + o_.tenant_id; }
  // The org objects belong to: the configured one, else the caller's.
  [[nodiscard]] std::string org() const {
    return o_.org_id.empty() ? header(r_, "x-gw-ims-org-id") : o_.org_id;
  }

  json* find_resource(const std::string& id_or_alt) {
    if (auto it = s_.resources.find(id_or_alt); it != s_.resources.end()) {
      return &it->second;
    }
    for (auto& [id, r] : s_.resources) {
      if (r.value("meta:altId", "") == id_or_alt) {
        return &r;
      }
    }
    return nullptr;
  }

  bool title_taken(const std::string& title) const {
    return std::any_of(s_.resources.begin(), s_.resources.end(),
                       [&](const auto& kv) { return kv.second.value("title", "") == title; });
  }

  static bool accept_has(const std::string& accept, std::string_view what) {
    return accept.find(what) != std::string::npos;
  }

  CpAnswer registry(std::string_view rest) {
    const auto parts = segments(rest, 3);
    if (parts.size() == 1 && parts[0] == "stats" && r_.method == "GET") {
      return stats();
    }
    if (parts.size() >= 2 && parts[0] == "tenant" && parts[1] == "descriptors") {
      return descriptors(parts.size() == 3 ? parts[2] : std::string());
    }
    if (parts.size() >= 2 && (parts[0] == "tenant" || parts[0] == "global") &&
        (parts[1] == "schemas" || parts[1] == "fieldgroups" || parts[1] == "mixins")) {
      const std::string kind = parts[1] == "schemas" ? "schemas" : "mixins";
      const bool global = parts[0] == "global";
      if (parts.size() == 2) {
        if (r_.method == "GET") {
          return list_resources(kind, global);
        }
        if (r_.method == "POST" && !global) {
          return create_resource(kind);
        }
        return problem(405, "Method Not Allowed", "not on this collection");
      }
      if (global) {
        return global_lookup(parts[2]);
      }
      json* res = find_resource(parts[2]);
      if (res == nullptr || res->value("meta:resourceType", "") != kind) {
        return registry_error(404, "XDM-1010-404", "Resource not found",
                              fmt::format("no {} with id {}", kind, parts[2]));
      }
      if (r_.method == "GET") {
        return lookup(*res);
      }
      if (r_.method == "PATCH") {
        return patch_resource(*res);
      }
      if (r_.method == "DELETE") {
        return delete_resource(*res);
      }
      return problem(405, "Method Not Allowed", "not on this resource");
    }
    return problem(404, "Not Found", "no such Schema Registry endpoint");
  }

  CpAnswer stats() const {
    int schemas = 0;
    int mixins = 0;
    for (const auto& [id, r] : s_.resources) {
      (r.value("meta:resourceType", "") == "schemas" ? schemas : mixins) += 1;
    }
    json usage = json::object();
    for (const auto& [id, r] : s_.resources) {
      if (r.contains("meta:class")) {
        usage[r["meta:class"].get<std::string>()].push_back(
            {{"$id", id}, {"title", r.value("title", "")}});
      }
    }
    return answer(200, {{"imsOrg", org()},
                        {"tenantId", o_.tenant_id},
                        {"counts",
                         {{"schemas", schemas},
                          {"mixins", mixins},
                          {"datatypes", 0},
                          {"classes", 0},
                          {"unions", 0}}},
                        {"classUsage", usage}});
  }

  CpAnswer global_lookup(const std::string& id) const {
    // Standard resources (reference §2.5) are those whose fields bridge/xed declares.
    if (!xed::is_standard(id)) {
      return registry_error(404, "XDM-1010-404", "Resource not found",
                            fmt::format("no global resource {}", id));
    }
    return answer(200, {{"$id", id}, {"meta:altId", id}, {"version", "1.0"}});
  }

  CpAnswer list_resources(const std::string& kind, bool global) const {
    const std::string accept = header(r_, "accept");
    if (!accept_has(accept, "application/vnd.adobe.xed-id+json") &&
        !accept_has(accept, "application/vnd.adobe.xed+json")) {
      return registry_error(400, "XDM-1006-400", "Accept header parameter is invalid",
                            "A list needs Accept: application/vnd.adobe.xed-id+json or "
                            "application/vnd.adobe.xed+json");
    }
    const bool full = !accept_has(accept, "xed-id+json");
    std::vector<json> items;
    if (!global) {
      const auto filters = query_values(r_, "property");
      for (const auto& id : s_.order) {
        const json& res = s_.resources.at(id);
        if (res.value("meta:resourceType", "") == kind && matches(res, filters)) {
          items.push_back(full ? res
                               : json{{"$id", res["$id"]},
                                      {"meta:altId", res["meta:altId"]},
                                      {"version", res["version"]},
                                      {"title", res["title"]}});
        }
      }
    }
    std::sort(items.begin(), items.end(), [](const json& a, const json& b) {
      return a.value("title", "") < b.value("title", "");
    });
    // Paging (reference §2.3): start = the last title of the previous page; limit a hint.
    if (const std::string* start = query_value(r_, "start")) {
      std::erase_if(items, [&](const json& j) { return j.value("title", "") <= *start; });
    }
    json next = nullptr;
    if (const std::string* limit = query_value(r_, "limit")) {
      const auto n = static_cast<std::size_t>(std::max(1, std::atoi(limit->c_str())));
      if (items.size() > n) {
        items.resize(n);
        next = items.back().value("title", "");
      }
    }
    return answer(200, {{"results", items},
                        {"_page", {{"orderby", "title"}, {"next", next}, {"count", items.size()}}},
                        {"_links", {{"next", nullptr}}}});
  }

  // Tenant fields must sit under _{TENANT_ID} (reference §2.4: XDM-1020..1024).
  std::optional<std::string> tenant_violation(const json& fg) const {
    if (!fg.contains("definitions") || !fg["definitions"].is_object()) {
      return std::nullopt;
    }
    for (const auto& [name, def] : fg["definitions"].items()) {
      if (!def.contains("properties")) {
        continue;
      }
      for (const auto& [field, schema] : def["properties"].items()) {
        if (field != tenant_ns()) {
          return fmt::format("field '{}' of definition '{}' is not under {}", field, name,
                             tenant_ns());
        }
      }
    }
    return std::nullopt;
  }

  // class + field groups from allOf; nullopt when a $ref is unknown.
  std::optional<std::string> resolve_allof(json& schema, std::string& error) {
    std::string klass;
    json extends = json::array();
    for (const auto& part : schema.value("allOf", json::array())) {
      const std::string ref = part.value("$ref", "");
      const bool known_global = xed::is_standard(ref);
      if (!known_global && s_.resources.find(ref) == s_.resources.end()) {
        error = fmt::format("allOf references an unknown resource '{}'", ref);
        return std::nullopt;
      }
      if (ref == kProfileClass || ref == kEventClass) {
        klass = ref;
      }
      extends.push_back(ref);
    }
    if (klass.empty()) {
      error = "allOf must reference exactly one class (profile or experienceevent)";
      return std::nullopt;
    }
    schema["meta:class"] = klass;
    schema["meta:extends"] = extends;
    return klass;
  }

  CpAnswer create_resource(const std::string& kind) {
    auto body = body_json();
    if (!body || !body->is_object()) {
      return registry_error(400, "XDM-1000-400", "Invalid request",
                            "the body is not a JSON object");
    }
    const std::string title = body->value("title", "");
    if (title.empty()) {
      return registry_error(400, "XDM-1001-400", "Missing title", "title is required");
    }
    if (title_taken(title)) {
      return registry_error(400, "XDM-1521-400", "Title not unique",
                            fmt::format("Object titles must be unique. An object with the title "
                                        "'{}' already exists",
                                        title));
    }
    json& res = *body;
    if (kind == "mixins") {
      const auto extend = res.value("meta:intendedToExtend", json::array());
      if (!extend.is_array() || extend.empty()) {
        return registry_error(400, "XDM-1020-400", "Namespace validation error",
                              "meta:intendedToExtend must list the classes it extends");
      }
      if (auto bad = tenant_violation(res)) {
        return registry_error(400, "XDM-1021-400", "Namespace validation error", *bad);
      }
    } else {
      std::string error;
      if (!resolve_allof(res, error)) {
        return registry_error(400, "XDM-1017-400", "Invalid reference", error);
      }
      res["meta:abstract"] = false;
      res["meta:extensible"] = false;
    }
    const std::string hex = s_.hex(32);
    const std::string id = fmt::format("https://ns.adobe.com/{}/{}/{}", o_.tenant_id, kind, hex);
    res["$id"] = id;
    res["meta:altId"] = fmt::format("_{}.{}.{}", o_.tenant_id, kind, hex);
    res["meta:resourceType"] = kind;
    res["version"] = "1.0";
    res["meta:containerId"] = "tenant";
    res["meta:tenantNamespace"] = tenant_ns();
    res["imsOrg"] = org();
    res["meta:registryMetadata"] = {{"repo:createdDate", now_ms()},
                                    {"repo:lastModifiedDate", now_ms()}};
    s_.resources[id] = res;
    s_.order.push_back(id);
    ++s_.writes;
    return answer(201, res);
  }

  CpAnswer lookup(const json& res) const {
    const std::string accept = header(r_, "accept");
    if (accept.find("version=") == std::string::npos) {
      return registry_error(400, "XDM-1007-400", "Accept header parameter is invalid",
                            "Version should be specified in the Accept header");
    }
    if (accept_has(accept, "xed-full")) {
      json full = resolve_schema(s_, res);
      if (full.is_null()) {
        return registry_error(500, "XDM-1500-500", "Resolution failed",
                              "a resource this schema extends no longer exists");
      }
      return answer(200, full);
    }
    return answer(200, res);
  }

  bool has_primary_descriptor(const std::string& schema_id) const {
    return std::any_of(s_.descriptors.begin(), s_.descriptors.end(), [&](const auto& kv) {
      const json& d = kv.second;
      return d.value("@type", "") == "xdm:descriptorIdentity" &&
             d.value("xdm:sourceSchema", "") == schema_id && d.value("xdm:isPrimary", false);
    });
  }

  static bool is_union(const json& res) {
    const auto tags = res.value("meta:immutableTags", json::array());
    return std::find(tags.begin(), tags.end(), "union") != tags.end();
  }

  CpAnswer patch_resource(json& res) {
    auto body = body_json();
    if (!body || !body->is_array()) {
      return registry_error(400, "XDM-1000-400", "Invalid request",
                            "the body must be a JSON Patch array");
    }
    json patched;
    try {
      patched = res.patch(*body);
    } catch (const json::exception& e) {
      return registry_error(400, "XDM-1000-400", "Invalid patch", e.what());
    }
    const bool was_union = is_union(res);
    if (was_union && !is_union(patched)) {
      return registry_error(400, "XDM-1529-400", "Immutable tag",
                            "meta:immutableTags cannot be removed");
    }
    if (patched.value("meta:resourceType", "") == "schemas") {
      std::string error;
      if (!resolve_allof(patched, error)) {
        return registry_error(400, "XDM-1017-400", "Invalid reference", error);
      }
      // Union needs a primary identity: a primary identity descriptor, or the identityMap
      // field group, whose primary entry each record names (reference §2.8, XDM-1528).
      const auto ext = patched.value("meta:extends", json::array());
      const bool identity_map = std::find(ext.begin(), ext.end(), kIdentityMap) != ext.end();
      if (!was_union && is_union(patched) && !identity_map &&
          !has_primary_descriptor(patched["$id"])) {
        return registry_error(400, "XDM-1528-400", "Union descriptor validation error",
                              "a schema needs a primary identity (a primary identity descriptor "
                              "or the identityMap field group) to be enabled for Profile");
      }
    }
    const std::string version = res.value("version", "1.0");
    const auto dot = version.find('.');
    patched["version"] = fmt::format("{}.{}", version.substr(0, dot),
                                     std::atoi(version.substr(dot + 1).c_str()) + 1);
    patched["meta:registryMetadata"]["repo:lastModifiedDate"] = now_ms();
    res = patched;
    ++s_.writes;
    return answer(200, res);
  }

  CpAnswer delete_resource(const json& res) {
    const std::string id = res["$id"];
    for (const auto& [other_id, other] : s_.resources) {
      const auto ext = other.value("meta:extends", json::array());
      if (std::find(ext.begin(), ext.end(), id) != ext.end()) {
        // UNCONFIRMED code: Platform refuses to delete a field group a schema uses.
        return registry_error(400, "XDM-1512-400", "Resource in use",
                              fmt::format("{} is used by {}", id, other_id));
      }
    }
    for (const auto& [ds_id, ds] : s_.datasets) {
      if (ds.value("schemaRef", json::object()).value("id", "") == id) {
        return registry_error(400, "XDM-1512-400", "Resource in use",
                              fmt::format("{} is used by dataset {}", id, ds_id));
      }
    }
    std::erase_if(s_.descriptors,
                  [&](const auto& kv) { return kv.second.value("xdm:sourceSchema", "") == id; });
    s_.resources.erase(id);
    std::erase(s_.order, id);
    ++s_.writes;
    return {204, "", {}};
  }

  CpAnswer descriptors(const std::string& id) {
    if (id.empty() && r_.method == "GET") {
      const std::string accept = header(r_, "accept");
      if (!accept_has(accept, "application/vnd.adobe.xdm")) {
        return registry_error(400, "XDM-1008-400", "Accept header parameter is invalid",
                              "A descriptor list needs Accept: application/vnd.adobe.xdm+json");
      }
      json grouped = json::object();
      for (const auto& [d_id, d] : s_.descriptors) {
        grouped[d.value("@type", "")].push_back(
            accept_has(accept, "xdm-link") ? json(fmt::format("/tenant/descriptors/{}", d_id))
            : accept_has(accept, "xdm-id") ? json(d_id)
                                           : d);
      }
      return answer(200, grouped);
    }
    if (id.empty() && r_.method == "POST") {
      auto body = body_json();
      if (!body || !body->is_object()) {
        return registry_error(400, "XDM-1000-400", "Invalid request", "not a JSON object");
      }
      json& d = *body;
      const std::string schema = d.value("xdm:sourceSchema", "");
      const std::string property = d.value("xdm:sourceProperty", "");
      if (d.value("@type", "").empty() || find_resource(schema) == nullptr ||
          !property.starts_with('/') || property.ends_with('/')) {
        return registry_error(400, "XDM-1000-400", "Invalid descriptor",
                              "@type, an existing xdm:sourceSchema and a /path "
                              "xdm:sourceProperty are required");
      }
      if (d.value("xdm:isPrimary", false) && has_primary_descriptor(schema)) {
        return registry_error(400, "XDM-1530-400", "Primary identity exists",
                              "a schema has at most one primary identity");
      }
      const std::string new_id = s_.hex(40);
      d["@id"] = new_id;
      d["meta:containerId"] = "tenant";
      s_.descriptors[new_id] = d;
      ++s_.writes;
      return answer(201, d);
    }
    const auto it = s_.descriptors.find(id);
    if (it == s_.descriptors.end()) {
      return registry_error(404, "XDM-1012-404", "Resource not found",
                            fmt::format("no descriptor {}", id));
    }
    if (r_.method == "GET") {
      return answer(200, it->second);
    }
    if (r_.method == "DELETE") {
      s_.descriptors.erase(it);
      ++s_.writes;
      return {204, "", {}};
    }
    return problem(405, "Method Not Allowed", "not on a descriptor");
  }

  // --- Identity namespaces (reference §3) ---

  CpAnswer identity(std::string_view rest) {
    if (!rest.empty() && rest != "/") {
      const std::string id(rest.substr(1));
      for (const auto& ns : s_.namespaces) {
        if (scalar_text(ns["id"]) == id && r_.method == "GET") {
          return answer(200, ns);
        }
      }
      return answer(404, {{"title", "NAMESPACE_NOT_FOUND"},
                          {"status", 404},
                          {"report", {{"code", "NAMESPACE_NOT_FOUND"}}}});
    }
    if (r_.method == "GET") {
      return answer(200, s_.namespaces);
    }
    if (r_.method != "POST") {
      return problem(405, "Method Not Allowed", "namespaces are listed and created here");
    }
    auto body = body_json();
    const auto invalid = [](const std::string& why) {
      return answer(400, {{"type", "http://ns.adobe.com/adobecloud/problem/namespacevalidation"},
                          {"status", 400},
                          {"title", "Namespace validation"},
                          {"description", why},
                          {"report", {{"code", "INVALID_REQUEST_PARAMS"}}}});
    };
    if (!body || !body->is_object()) {
      return invalid("the body is not a JSON object");
    }
    const std::string code = body->value("code", "");
    const std::string name = body->value("name", "");
    const std::string type = lower(body->value("idType", ""));
    static const std::vector<std::string> types = {"cookie", "cross_device", "device", "email",
                                                   "mobile", "non_people",   "phone"};
    if (code.empty() || name.empty() || !std::all_of(code.begin(), code.end(), [](unsigned char c) {
          return std::isalnum(c) != 0;
        })) {
      return invalid("name and code (letters and digits) are required");
    }
    if (std::find(types.begin(), types.end(), type) == types.end()) {
      return invalid("idType must be one of [DEVICE, COOKIE, CROSS_DEVICE, PHONE, EMAIL]");
    }
    for (const auto& ns : s_.namespaces) {
      if (lower(ns.value("code", "")) == lower(code)) {
        return answer(
            409, {{"timestamp", now_ms()},
                  {"type", "http://ns.adobe.com/adobecloud/problem/namespacevalidation"},
                  {"status", 409},
                  {"title", "NAMESPACE_CODE_CONFLICT"},
                  {"description", "Namespace code already exists. Please use a different code"},
                  {"report", {{"code", "INTEGRATION_CODE_EXISTS"}}}});
      }
    }
    json ns = {{"id", s_.next_namespace_id++},
               {"code", code},
               {"name", name},
               {"description", body->value("description", "")},
               {"idType", body->value("idType", "")},
               {"status", "ACTIVE"},
               {"custom", true},
               {"createTime", now_ms()},
               {"updateTime", now_ms()}};
    s_.namespaces.push_back(ns);
    ++s_.writes;
    return answer(200, ns);  // 200, not 201 (reference §3.2)
  }

  // --- Catalog (reference §4) ---

  CpAnswer catalog(std::string_view rest) {
    if (rest.empty() || rest == "/") {
      if (r_.method == "GET") {
        return list_datasets();
      }
      if (r_.method == "POST") {
        return create_dataset();
      }
      return problem(405, "Method Not Allowed", "not on dataSets");
    }
    const std::string id(rest.substr(1));
    const auto it = s_.datasets.find(id);
    if (it == s_.datasets.end()) {
      return problem(404, "Not Found", fmt::format("no dataset {}", id));
    }
    if (r_.method == "GET") {
      return answer(200, {{id, it->second}});
    }
    if (r_.method == "DELETE") {
      s_.datasets.erase(it);
      ++s_.writes;
      return answer(200, json::array({fmt::format("@/dataSets/{}", id)}));  // UNCONFIRMED
    }
    if (r_.method == "PATCH") {
      auto body = body_json();
      if (!body) {
        return problem(400, "Bad Request", "the body is not JSON");
      }
      json patched = it->second;
      try {
        if (body->is_array()) {
          patched = patched.patch(*body);
        } else {
          patched.merge_patch(*body);
        }
      } catch (const json::exception& e) {
        return problem(400, "Bad Request", e.what());
      }
      if (auto bad = profile_tags_invalid(patched)) {
        return *bad;
      }
      it->second = patched;
      ++s_.writes;
      return answer(200, json::array({fmt::format("@/dataSets/{}", id)}));
    }
    return problem(405, "Method Not Allowed", "not on a dataset");
  }

  static bool tag_enabled(const json& ds, const char* tag) {
    const auto values = ds.value("tags", json::object()).value(tag, json::array());
    return std::find(values.begin(), values.end(), "enabled:true") != values.end();
  }

  // Profile-enabled datasets need a union-enabled schema (reference §4.1, PROF-DS); the body of
  // Platform's refusal is UNCONFIRMED.
  std::optional<CpAnswer> profile_tags_invalid(const json& ds) {
    if (!tag_enabled(ds, "unifiedProfile")) {
      return std::nullopt;
    }
    const json* schema =
        find_resource(ds.value("schemaRef", json::object()).value("id", std::string()));
    if (schema == nullptr || !is_union(*schema)) {
      return problem(400, "Bad Request",
                     "a Profile-enabled dataset needs a schema enabled for Profile (union)");
    }
    return std::nullopt;
  }

  CpAnswer list_datasets() const {
    auto filters = query_values(r_, "property");
    if (const std::string* name = query_value(r_, "name")) {
      filters.push_back("name==" + *name);
    }
    std::size_t limit = 20;
    if (const std::string* l = query_value(r_, "limit")) {
      limit = static_cast<std::size_t>(std::clamp(std::atoi(l->c_str()), 1, 100));
    }
    std::size_t start = 0;
    if (const std::string* st = query_value(r_, "start")) {
      start = static_cast<std::size_t>(std::max(0, std::atoi(st->c_str())));
    }
    json out = json::object();
    std::size_t index = 0;
    for (const auto& [id, ds] : s_.datasets) {
      if (!matches(ds, filters)) {
        continue;
      }
      if (index++ >= start && out.size() < limit) {
        out[id] = ds;
      }
    }
    return answer(200, out);
  }

  CpAnswer create_dataset() {
    auto body = body_json();
    if (!body || !body->is_object() || body->value("name", "").empty()) {
      return problem(400, "Bad Request", "a dataset needs a name");
    }
    const std::string schema_id =
        body->value("schemaRef", json::object()).value("id", std::string());
    if (find_resource(schema_id) == nullptr) {
      return problem(400, "Bad Request",
                     fmt::format("schemaRef.id '{}' is not a schema", schema_id));
    }
    if (auto bad = profile_tags_invalid(*body)) {
      return *bad;
    }
    const std::string id = s_.hex(24);
    json ds = *body;
    ds["id"] = id;
    ds["imsOrg"] = org();
    ds["created"] = now_ms();
    ds["updated"] = now_ms();
    ds["version"] = "1.0.0";
    s_.datasets[id] = ds;
    ++s_.writes;
    CpAnswer a = answer(201, json::array({fmt::format("@/dataSets/{}", id)}));
    a.headers.emplace_back("Location", fmt::format("{}/{}", kCatalog, id));
    return a;
  }

  // --- Flow Service (reference §5) ---

  CpAnswer flows(std::string_view rest) {
    const auto parts = segments(rest, 3);
    static const std::vector<std::string> kinds = {"connections", "sourceConnections",
                                                   "targetConnections", "flows"};
    if (parts.empty() || std::find(kinds.begin(), kinds.end(), parts[0]) == kinds.end()) {
      return problem(404, "Not Found", "no such Flow Service endpoint");
    }
    auto& objects = s_.flow_objects[parts[0]];
    if (parts.size() == 1) {
      if (r_.method == "GET") {
        return list_flow_objects(objects);
      }
      if (r_.method == "POST") {
        return create_flow_object(parts[0], objects);
      }
      return problem(405, "Method Not Allowed", "not on this collection");
    }
    const auto it = objects.find(parts[1]);
    if (it == objects.end()) {
      return problem(404, "Not Found", fmt::format("no {} with id {}", parts[0], parts[1]));
    }
    if (parts.size() == 3 && parts[0] == "flows" && parts[2] == "action" && r_.method == "POST") {
      return flow_action(it->second);
    }
    if (parts.size() != 2) {
      return problem(404, "Not Found", "no such Flow Service endpoint");
    }
    if (r_.method == "GET") {
      return answer(200, {{"items", json::array({with_inlet(it->second)})}});
    }
    if (r_.method == "DELETE") {
      objects.erase(it);
      ++s_.writes;
      return {204, "", {}};
    }
    return problem(405, "Method Not Allowed", "not on this object");
  }

  json with_inlet(const json& object) const {
    json out = object;
    if (out.contains("inletId")) {
      out["auth"]["params"]["inletId"] = out["inletId"];
      out["auth"]["params"]["inletUrl"] =
          fmt::format("{}/collection/{}", o_.inlet_base_url, out["inletId"].get<std::string>());
      out.erase("inletId");
    }
    return out;
  }

  CpAnswer list_flow_objects(const std::map<std::string, json>& objects) const {
    const auto filters = query_values(r_, "property");
    std::vector<json> items;
    for (const auto& [id, o] : objects) {
      json shown = with_inlet(o);
      if (matches(shown, filters)) {
        items.push_back(std::move(shown));
      }
    }
    std::sort(items.begin(), items.end(), [](const json& a, const json& b) {
      return a.value("createdAt", std::int64_t{0}) < b.value("createdAt", std::int64_t{0});
    });
    if (const std::string* count = query_value(r_, "count"); count != nullptr && *count == "true") {
      return answer(200, {{"count", items.size()}});
    }
    std::size_t from = 0;
    if (const std::string* token = query_value(r_, "continuationToken")) {
      from = static_cast<std::size_t>(std::max(0, std::atoi(token->c_str())));
    }
    std::size_t limit = 100;
    if (const std::string* l = query_value(r_, "limit")) {
      limit = static_cast<std::size_t>(std::max(1, std::atoi(l->c_str())));
    }
    json page = json::array();
    for (std::size_t i = from; i < items.size() && page.size() < limit; ++i) {
      page.push_back(items[i]);
    }
    json links = json::object();
    if (from + page.size() < items.size()) {
      links["next"] = {{"href", fmt::format("{}?continuationToken={}",
                                            r_.path.substr(kFlows.size()), from + page.size())}};
    }
    return answer(200, {{"items", page}, {"_links", links}});
  }

  std::optional<std::string> flow_refs_invalid(const std::string& kind, const json& o) {
    const auto exists = [this](const char* k, const std::string& id) {
      return s_.flow_objects[k].contains(id);
    };
    if (o.value("name", "").empty()) {
      return "name is required";
    }
    if (kind == "connections") {
      if (o.value("connectionSpec", json::object()).value("id", "").empty()) {
        return "connectionSpec.id is required";
      }
    } else if (kind == "sourceConnections") {
      if (!exists("connections", o.value("baseConnectionId", ""))) {
        return "baseConnectionId is not a connection";
      }
    } else if (kind == "targetConnections") {
      const std::string ds = o.value("params", json::object()).value("dataSetId", "");
      if (!s_.datasets.contains(ds)) {
        return fmt::format("params.dataSetId '{}' is not a dataset", ds);
      }
    } else if (kind == "flows") {
      for (const auto& [field, target] : {std::pair{"sourceConnectionIds", "sourceConnections"},
                                          std::pair{"targetConnectionIds", "targetConnections"}}) {
        const auto ids = o.value(field, json::array());
        if (!ids.is_array() || ids.empty()) {
          return fmt::format("{} must list at least one id", field);
        }
        for (const auto& id : ids) {
          if (!id.is_string() || !exists(target, id.get<std::string>())) {
            return fmt::format("{} names an unknown id", field);
          }
        }
      }
      if (o.value("flowSpec", json::object()).value("id", "").empty()) {
        return "flowSpec.id is required";
      }
    }
    return std::nullopt;
  }

  CpAnswer create_flow_object(const std::string& kind, std::map<std::string, json>& objects) {
    auto body = body_json();
    if (!body || !body->is_object()) {
      return problem(400, "Bad Request", "the body is not a JSON object");
    }
    if (auto bad = flow_refs_invalid(kind, *body)) {
      return problem(400, "Bad Request", *bad);
    }
    json o = *body;
    const std::string id = s_.uuid();
    const std::string etag = s_.etag();
    o["id"] = id;
    o["createdAt"] = now_ms();
    o["updatedAt"] = now_ms();
    o["sandboxName"] = header(r_, "x-sandbox-name");
    o["imsOrgId"] = org();
    o["etag"] = etag;
    o["version"] = etag;
    if (kind == "flows" || kind == "connections") {
      o["state"] = "enabled";
    }
    if (kind == "connections" &&
        o.value("connectionSpec", json::object()).value("id", "") == kHttpApiSpec) {
      o["inletId"] = s_.hex(64);
      if (!o["auth"]["params"].contains("authenticationRequired")) {
        o["auth"]["params"]["authenticationRequired"] = false;
      }
    }
    objects[id] = o;
    ++s_.writes;
    CpAnswer a = answer(201, {{"id", id}, {"etag", etag}});
    a.headers.emplace_back("Location", fmt::format("{}/{}/{}", kFlows, kind, id));
    return a;
  }

  CpAnswer flow_action(json& flow) {
    const std::string* op = query_value(r_, "op");
    if (op == nullptr || (*op != "ENABLE" && *op != "DISABLE")) {
      return problem(400, "Bad Request", "op must be ENABLE or DISABLE");
    }
    if (header(r_, "if-match") != flow.value("etag", "")) {
      // Status UNCONFIRMED (reference §8): 412 with Flow Service's etag body.
      return answer(412, {{"errorMessage",
                           fmt::format("Supplied version=[{}] does not match the current version "
                                       "on entity=[{}]",
                                       header(r_, "if-match"), flow.value("etag", ""))}});
    }
    flow["state"] = *op == "ENABLE" ? "enabled" : "disabled";
    flow["etag"] = s_.etag();
    flow["version"] = flow["etag"];
    flow["updatedAt"] = now_ms();
    ++s_.writes;
    return answer(200, {{"id", flow["id"]}, {"etag", flow["etag"]}});
  }
};

}  // namespace

CpAnswer ControlPlane::handle(const CpRequest& request) {
  std::lock_guard lock(mu_);
  try {
    return Handler(*state_, options_, request).run();
  } catch (const nlohmann::json::exception& e) {
    return problem(400, "Bad Request", e.what());
  }
}

}  // namespace bridge::emulator

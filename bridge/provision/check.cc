#include "bridge/provision/check.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "bridge/provision/session.h"

namespace bridge::provision {
namespace {

constexpr const char* kHttpApiSpec = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb";
constexpr const char* kXedFull = "application/vnd.adobe.xed-full+json; version=1";

std::string inlet_id(const std::string& url) {
  const auto slash = url.rfind('/');
  return slash == std::string::npos ? url : url.substr(slash + 1);
}

// Every leaf path under `value` ("a.b", arrays as "a[]"), for tenant-field checks.
void leaf_paths(const json& value, const std::string& path, std::set<std::string>& out) {
  if (value.is_object()) {
    for (const auto& [k, v] : value.items()) {
      leaf_paths(v, path.empty() ? k : path + "." + k, out);
    }
  } else if (value.is_array()) {
    for (const auto& v : value) {
      leaf_paths(v, path + "[]", out);
    }
  } else {
    out.insert(path);
  }
}

// Whether a resolved (xed-full) schema declares `path` ("a.b[].c").
bool declared(const json& schema, const std::string& path) {
  const json* node = &schema;
  std::size_t at = 0;
  while (at <= path.size()) {
    const auto dot = path.find('.', at);
    std::string key = path.substr(at, dot == std::string::npos ? std::string::npos : dot - at);
    const bool array = key.ends_with("[]");
    if (array) {
      key.resize(key.size() - 2);
    }
    if (!node->is_object() || !node->contains("properties")) {
      return false;
    }
    const json& props = node->at("properties");
    if (!props.is_object() || !props.contains(key)) {
      return false;
    }
    node = &props.at(key);
    if (array) {
      if (!node->contains("items")) {
        return false;
      }
      node = &node->at("items");
    }
    if (dot == std::string::npos) {
      return true;
    }
    at = dot + 1;
  }
  return true;
}

class Checker {
 public:
  Checker(Session& s, const config::Config& cfg, std::ostream& out) : s_(s), cfg_(cfg), out_(out) {}

  void ok(const std::string& what) { out_ << fmt::format("  ok       {}\n", what); }
  void problem(const std::string& what, const std::string& fix) {
    out_ << fmt::format("  PROBLEM  {}\n           → {}\n", what, fix);
    ++problems_;
  }
  [[nodiscard]] int problems() const { return problems_; }

  // GET that may legitimately be 404: nullopt then; other failures are errors.
  core::Result<std::optional<json>> find(const std::string& url, std::string accept = {}) {
    Call c;
    c.url = url;
    c.accept = std::move(accept);
    auto a = s_.api().call(c);
    if (!a) {
      return tl::unexpected(a.error());
    }
    if (a->status == 404) {
      return std::optional<json>();
    }
    if (a->status < 200 || a->status >= 300) {
      return core::fail(core::ErrorKind::permanent, "platform-refused",
                        fmt::format("GET {}: {}", url.substr(url.find("/data/")),
                                    describe_error(a->status, a->body)));
    }
    return std::optional<json>(json::parse(a->body, nullptr, false));
  }

  static json params_of(const json& connection) {
    return connection.value("auth", json::object()).value("params", json::object());
  }

  static json first_item(const json& body) {
    const auto items = body.value("items", json::array());
    return items.empty() ? json::object() : items[0];
  }

  core::Result<void> sandbox() {
    Call c;
    c.url = fmt::format("{}/data/foundation/sandbox-management/sandboxes/{}", cfg_.platform.api_url,
                        cfg_.platform.sandbox);
    auto a = s_.api().call(c, false);
    if (!a) {
      return tl::unexpected(a.error());
    }
    const std::string state =
        a->status == 200 ? json::parse(a->body, nullptr, false).value("state", "") : std::string();
    if (a->status == 200 && state == "active") {
      ok(fmt::format("sandbox {} is active (an IMS token was issued)", cfg_.platform.sandbox));
    } else if (a->status == 403) {
      ok(
          fmt::format("sandbox {}: not readable with these credentials (not an admin); the calls "
                      "below use it",
                      cfg_.platform.sandbox));
    } else {
      problem(fmt::format("sandbox '{}' {}", cfg_.platform.sandbox,
                          a->status == 404 ? "does not exist" : "is " + state),
              "set platform.sandbox to an active sandbox");
      sandbox_ok_ = false;
    }
    return {};
  }

  core::Result<void> inlets() {
    auto bases = s_.flow_list("connections",
                              {{"property", std::string("connectionSpec.id==") + kHttpApiSpec}});
    if (!bases) {
      return tl::unexpected(bases.error());
    }
    for (const auto& inlet : cfg_.sink.platform.inlets) {
      const std::string id = inlet_id(inlet.url);
      const json* found = nullptr;
      for (const auto& b : *bases) {
        if (params_of(b).value("inletId", "") == id) {
          found = &b;
        }
      }
      if (found == nullptr) {
        problem(fmt::format("inlet '{}': no streaming connection has inlet id {}", inlet.name, id),
                "run `capillary-bridge platform setup` and use the inlet URL it prints");
        continue;
      }
      base_of_inlet_[found->value("id", "")] = inlet.name;
      const bool required = params_of(*found).value("authenticationRequired", false);
      if (required != inlet.authenticated) {
        problem(fmt::format("inlet '{}': the connection {} authentication but the config has "
                            "authenticated: {}",
                            inlet.name, required ? "requires" : "does not require",
                            inlet.authenticated),
                fmt::format("set sink.platform.inlets.{}.authenticated: {}", inlet.name, required));
      } else {
        ok(fmt::format("inlet '{}' is streaming connection '{}' ({})", inlet.name,
                       found->value("name", ""), required ? "authenticated" : "unauthenticated"));
      }
    }
    return {};
  }

  core::Result<void> target(const transforms::Target& t, bool receives_profiles) {
    // Dataset: exists, its schema, Profile when it receives profile records.
    auto ds = find(s_.catalog("/" + t.dataset_id));
    if (!ds) {
      return tl::unexpected(ds.error());
    }
    if (!*ds || !(*ds)->contains(t.dataset_id)) {
      problem(fmt::format("targets.{}: dataset {} does not exist", t.name, t.dataset_id),
              "run `capillary-bridge platform setup` and copy the dataset id it prints");
    } else {
      const json& d = (**ds)[t.dataset_id];
      const std::string schema = d.value("schemaRef", json::object()).value("id", "");
      const auto tags = d.value("tags", json::object()).value("unifiedProfile", json::array());
      const bool profile = std::find(tags.begin(), tags.end(), "enabled:true") != tags.end();
      if (schema != t.schema_ref) {
        problem(fmt::format("targets.{}: dataset {} uses schema {}, the config says {}", t.name,
                            t.dataset_id, schema, t.schema_ref),
                fmt::format("set targets.{}.schema_ref: {}", t.name, schema));
      } else if (receives_profiles && !profile) {
        problem(fmt::format("targets.{}: dataset {} receives profile records but is not enabled "
                            "for Profile",
                            t.name, t.dataset_id),
                "enable Profile on the dataset (setup creates it enabled)");
      } else {
        ok(fmt::format("targets.{}: dataset {} ({}){}", t.name, t.dataset_id, d.value("name", ""),
                       profile ? ", Profile enabled" : ""));
      }
    }
    // Dataflow: exists, enabled, into this dataset, from a configured inlet.
    if (t.flow_id.empty()) {
      problem(fmt::format("targets.{}: no flow_id", t.name),
              "copy the flow id `capillary-bridge platform setup` prints");
      return {};
    }
    auto flow = find(s_.flows("/flows/" + t.flow_id));
    if (!flow) {
      return tl::unexpected(flow.error());
    }
    if (!*flow) {
      problem(fmt::format("targets.{}: dataflow {} does not exist", t.name, t.flow_id),
              "run `capillary-bridge platform setup` and copy the flow id it prints");
      return {};
    }
    const json f = first_item(**flow);
    if (f.value("state", "") != "enabled") {
      problem(
          fmt::format("targets.{}: dataflow {} is {}", t.name, t.flow_id, f.value("state", "?")),
          "enable it (Flow Service: POST /flows/{id}/action?op=ENABLE)");
      return {};
    }
    std::string into;
    for (const auto& id : f.value("targetConnectionIds", json::array())) {
      auto tc = find(s_.flows("/targetConnections/" + id.get<std::string>()));
      if (!tc) {
        return tl::unexpected(tc.error());
      }
      if (*tc) {
        into = first_item(**tc).value("params", json::object()).value("dataSetId", "");
      }
    }
    if (into != t.dataset_id) {
      problem(fmt::format("targets.{}: dataflow {} writes to dataset {}, not {}", t.name, t.flow_id,
                          into.empty() ? "(none)" : into, t.dataset_id),
              "use the flow id of this dataset's dataflow");
      return {};
    }
    bool from_inlet = false;
    for (const auto& id : f.value("sourceConnectionIds", json::array())) {
      auto sc = find(s_.flows("/sourceConnections/" + id.get<std::string>()));
      if (!sc) {
        return tl::unexpected(sc.error());
      }
      if (*sc && base_of_inlet_.contains(first_item(**sc).value("baseConnectionId", ""))) {
        from_inlet = true;
      }
    }
    if (!from_inlet) {
      problem(fmt::format("targets.{}: dataflow {} does not read from any configured inlet", t.name,
                          t.flow_id),
              "point sink.platform.inlets at the streaming connection of this dataflow");
      return {};
    }
    ok(fmt::format("targets.{}: dataflow {} is enabled, from the inlet into the dataset", t.name,
                   t.flow_id));
    return {};
  }

  // Tenant fields of the sample outputs against each target's resolved schema.
  core::Result<void> fields(const std::vector<SampleOutput>& outputs) {
    std::map<std::string, std::map<std::string, std::string>>
        undeclared;  // target -> path -> event
    std::map<std::string, std::size_t> checked;
    for (const auto& o : outputs) {
      const auto t = std::find_if(cfg_.targets.begin(), cfg_.targets.end(),
                                  [&](const auto& x) { return x.name == o.target; });
      if (t == cfg_.targets.end() || t->schema_ref.empty()) {
        continue;
      }
      if (!schemas_.contains(t->schema_ref)) {
        auto schema =
            find(s_.registry("/tenant/schemas/" + Session::escape(t->schema_ref)), kXedFull);
        if (!schema) {
          return tl::unexpected(schema.error());
        }
        schemas_[t->schema_ref] = *schema ? **schema : json();
        if (!*schema) {
          problem(fmt::format("targets.{}: schema {} does not exist", t->name, t->schema_ref),
                  "run `capillary-bridge platform setup` and copy the schema ref it prints");
        }
      }
      const json& schema = schemas_[t->schema_ref];
      if (schema.is_null()) {
        continue;
      }
      const json entity = json::parse(o.entity, nullptr, false);
      if (!entity.is_object()) {
        continue;
      }
      for (const auto& [key, value] : entity.items()) {
        if (!key.starts_with('_') || key == "_id") {
          continue;
        }
        std::set<std::string> paths;
        leaf_paths(value, key, paths);
        for (const auto& path : paths) {
          ++checked[t->name];
          if (!declared(schema, path)) {
            undeclared[t->name].emplace(path, o.event);
          }
        }
      }
    }
    for (const auto& [target, n] : checked) {
      const auto bad = undeclared.find(target);
      if (bad == undeclared.end()) {
        ok(fmt::format("targets.{}: every tenant field of the sample outputs is in its schema",
                       target));
        continue;
      }
      for (const auto& [path, event] : bad->second) {
        problem(fmt::format("targets.{}: {} (written for {}) is not in the schema", target, path,
                            event),
                "run `capillary-bridge platform setup`: it adds declared tenant fields to its "
                "field group");
      }
    }
    return {};
  }

  [[nodiscard]] bool sandbox_ok() const { return sandbox_ok_; }

 private:
  Session& s_;
  const config::Config& cfg_;
  std::ostream& out_;
  int problems_ = 0;
  bool sandbox_ok_ = true;
  std::map<std::string, std::string> base_of_inlet_;  // base connection id -> inlet name
  std::map<std::string, json> schemas_;               // schema ref -> xed-full (null: missing)
};

}  // namespace

static core::Result<int> check_all(Api& api, const config::Config& config,
                                   const std::vector<SampleOutput>& outputs, std::ostream& out);

core::Result<int> check(Api& api, const config::Config& config,
                        const std::vector<SampleOutput>& outputs, std::ostream& out) {
  return tolerating_shapes([&] { return check_all(api, config, outputs, out); });
}

static core::Result<int> check_all(Api& api, const config::Config& config,
                                   const std::vector<SampleOutput>& outputs, std::ostream& out) {
  Session s(api, config, out);
  Checker c(s, config, out);
  out << fmt::format("Checking sandbox {} of {}:\n", config.platform.sandbox,
                     config.platform.org_id);
  if (auto r = c.sandbox(); !r) {
    return tl::unexpected(r.error());
  }
  if (!c.sandbox_ok()) {
    return c.problems();
  }
  if (auto r = c.inlets(); !r) {
    return tl::unexpected(r.error());
  }
  std::set<std::string> profile_targets;
  std::set<std::string> used;
  for (const auto& route : config.routes) {
    if (auto p = setting(route.settings, {"targets", "profile"}); !p.empty()) {
      profile_targets.insert(p);
      used.insert(p);
    }
    if (auto e = setting(route.settings, {"targets", "experience_event"}); !e.empty()) {
      used.insert(e);
    }
    if (auto t = setting(route.settings, {"target"}); !t.empty()) {
      used.insert(t);
    }
  }
  for (const auto& t : config.targets) {
    if (used.contains(t.name) && !t.dataset_id.empty()) {
      if (auto r = c.target(t, profile_targets.contains(t.name)); !r) {
        return tl::unexpected(r.error());
      }
    }
  }
  if (auto r = c.fields(outputs); !r) {
    return tl::unexpected(r.error());
  }
  out << (c.problems() == 0 ? std::string("No problems.\n")
                            : fmt::format("{} problem(s).\n", c.problems()));
  return c.problems();
}

}  // namespace bridge::provision

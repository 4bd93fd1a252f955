#include "bridge/provision/check.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "bridge/provision/session.h"
#include "bridge/xed/xed.h"

namespace bridge::provision {
namespace {

constexpr const char* kHttpApiSpec = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb";
constexpr const char* kXedFull = "application/vnd.adobe.xed-full+json; version=1";

std::string inlet_id(const std::string& url) {
  const auto slash = url.rfind('/');
  return slash == std::string::npos ? url : url.substr(slash + 1);
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
    if (auto r = profile_schema(t, receives_profiles); !r) {
      return r;
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

  // The sample outputs against each target's schema as the Schema Registry resolves it
  // (xed-full), validated as Platform's streaming validation does (bridge/xed).
  core::Result<void> fields(const std::vector<SampleOutput>& outputs) {
    struct Finding {
      std::string event;  // the first event whose output showed it
      bool tenant = false;
    };
    std::map<std::string, std::map<std::string, Finding>> found;  // target -> problem -> first
    std::map<std::string, std::size_t> checked;
    for (const auto& o : outputs) {
      const auto t = std::find_if(cfg_.targets.begin(), cfg_.targets.end(),
                                  [&](const auto& x) { return x.name == o.target; });
      if (t == cfg_.targets.end() || t->schema_ref.empty()) {
        continue;
      }
      if (!validators_.contains(t->schema_ref)) {
        auto v = validator(*t);
        if (!v) {
          return tl::unexpected(v.error());
        }
        validators_[t->schema_ref] = *v;
      }
      const auto& validator = validators_[t->schema_ref];
      if (!validator) {
        continue;
      }
      const json entity = json::parse(o.entity, nullptr, false);
      if (!entity.is_object()) {
        continue;
      }
      ++checked[t->name];
      for (const auto& v : validator->validate(entity)) {
        const bool tenant = v.pointer.starts_with("#/_") ||
                            (v.pointer == "#" && v.message.starts_with("extraneous key [_"));
        found[t->name].try_emplace(fmt::format("{}: {}", v.pointer, v.message),
                                   Finding{o.event, tenant});
      }
    }
    for (const auto& [target, n] : checked) {
      const auto bad = found.find(target);
      if (bad == found.end()) {
        ok(fmt::format("targets.{}: {} sample output(s) valid against the live schema", target, n));
        continue;
      }
      for (const auto& [what, f] : bad->second) {
        problem(fmt::format("targets.{}: the output of {} violates the schema at {}", target,
                            f.event, what),
                f.tenant ? "run `capillary-bridge platform setup`: it adds the declared tenant "
                           "fields to its field group (a mapping's tenant field must also be "
                           "declared)"
                         : "give the schema the standard field group that declares this field, "
                           "or change the mapping so it writes what the schema declares");
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
  // By schema ref: its xed-full (null: does not exist), and that compiled (null: missing or
  // unusable, already reported).
  std::map<std::string, json> schemas_;
  std::map<std::string, std::shared_ptr<const xed::Validator>> validators_;

  // The target's schema as the Schema Registry resolves it; null when it does not exist
  // (reported once).
  core::Result<const json*> schema_of(const transforms::Target& t) {
    if (!schemas_.contains(t.schema_ref)) {
      auto schema = find(s_.registry("/tenant/schemas/" + Session::escape(t.schema_ref)), kXedFull);
      if (!schema) {
        return tl::unexpected(schema.error());
      }
      schemas_[t.schema_ref] = *schema ? **schema : json();
      if (!*schema) {
        problem(fmt::format("targets.{}: schema {} does not exist", t.name, t.schema_ref),
                "run `capillary-bridge platform setup` and copy the schema ref it prints");
      }
    }
    const json& schema = schemas_[t.schema_ref];
    return schema.is_null() ? nullptr : &schema;
  }

  // A target that receives profile records needs a schema enabled for Profile (union tag).
  core::Result<void> profile_schema(const transforms::Target& t, bool receives_profiles) {
    if (!receives_profiles) {
      return {};
    }
    auto schema = schema_of(t);
    if (!schema) {
      return tl::unexpected(schema.error());
    }
    if (*schema == nullptr) {
      return {};
    }
    const auto tags = (*schema)->value("meta:immutableTags", json::array());
    if (std::find(tags.begin(), tags.end(), "union") == tags.end()) {
      problem(fmt::format("targets.{}: schema {} receives profile records but is not enabled for "
                          "Profile",
                          t.name, t.schema_ref),
              "enable the schema for Profile (meta:immutableTags: [\"union\"]; setup creates "
              "it enabled) or point the target at a schema that is");
    }
    return {};
  }

  core::Result<std::shared_ptr<const xed::Validator>> validator(const transforms::Target& t) {
    auto schema = schema_of(t);
    if (!schema) {
      return tl::unexpected(schema.error());
    }
    if (*schema == nullptr) {
      return std::shared_ptr<const xed::Validator>();
    }
    auto compiled = xed::Validator::compile(**schema);
    if (!compiled) {
      problem(
          fmt::format("targets.{}: schema {}: {}", t.name, t.schema_ref, compiled.error().message),
          "report this: the Schema Registry answered a schema the check cannot read");
      return std::shared_ptr<const xed::Validator>();
    }
    return *compiled;
  }
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

#include "bridge/provision/setup.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <tuple>
#include <vector>

#include "bridge/provision/session.h"

namespace bridge::provision {

std::string_view tenant_fields_json();  // embedded transforms/capillary/tenant-fields.json

namespace {

using nlohmann::json;

constexpr const char* kProfileClass = "https://ns.adobe.com/xdm/context/profile";
constexpr const char* kEventClass = "https://ns.adobe.com/xdm/context/experienceevent";
constexpr const char* kIdentityMap = "https://ns.adobe.com/xdm/context/identitymap";
constexpr const char* kHttpApiSpec = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb";
constexpr const char* kDataLakeSpec = "c604ff05-7f1a-43c0-8e18-33bf874cb11c";
constexpr const char* kFlowSpec = "d8a6f005-7eaf-4153-983e-e8574508b877";
constexpr const char* kXedFull = "application/vnd.adobe.xed-full+json;version=1";
constexpr const char* kXedId = "application/vnd.adobe.xed-id+json";

// The standard field groups each schema needs: what the catalogue writes, as the contract tests
// check it (tests/contract/public_xdm.cc), plus identityMap, which carries each record's primary
// identity (xdm-mapping.md §3) and so lets both schemas join Profile.
const std::vector<std::string>& profile_groups() {
  static const std::vector<std::string> groups = {
      kProfileClass,
      kIdentityMap,
      "https://ns.adobe.com/xdm/context/profile-person-details",
      "https://ns.adobe.com/xdm/context/profile-personal-details",
      "https://ns.adobe.com/xdm/mixins/profile/profile-loyalty-details",
      "https://ns.adobe.com/xdm/common/external-source-system-audit-details"};
  return groups;
}

const std::vector<std::string>& event_groups() {
  static const std::vector<std::string> groups = {
      kEventClass, kIdentityMap, "https://ns.adobe.com/xdm/context/experienceevent-commerce",
      "https://ns.adobe.com/xdm/context/experienceevent-loyalty-details"};
  return groups;
}

struct Namespace {
  std::string code;
  std::string label;
  bool standard = false;
};

// What the config asks for.
struct Wanted {
  std::string tenant;  // "acme" (no underscore)
  std::string profile_target = "profiles";
  std::string event_target = "events";
  std::vector<Namespace> namespaces;
  // The `properties` of the tenant object each schema's field group declares: the catalogue's
  // (tenant-fields.json, events only) plus every mapping route's. Empty: no field group.
  json event_tenant = json::object();
  json profile_tenant = json::object();
  // Mapping fields setup cannot declare (no type known; a type that contradicts another).
  std::vector<std::string> field_problems;
};

json xdm_fields(json schema);
void declare(Wanted& w, const transforms::TenantField& f);

core::Result<Wanted> wanted_from(const config::Config& config,
                                 const std::vector<transforms::TenantField>& extra) {
  const auto route = std::find_if(config.routes.begin(), config.routes.end(),
                                  [](const auto& r) { return r.transform == "capillary"; });
  if (route == config.routes.end()) {
    return core::fail(core::ErrorKind::permanent, "setup-no-catalogue",
                      "no route uses the capillary transform: setup provisions what the "
                      "catalogue writes (routes[].transform: capillary)");
  }
  Wanted w;
  w.tenant = setting(route->settings, {"tenant"}, "");
  if (w.tenant.starts_with('_')) {
    w.tenant.erase(0, 1);
  }
  w.profile_target = setting(route->settings, {"targets", "profile"}, "");
  w.event_target = setting(route->settings, {"targets", "experience_event"}, "");
  const auto ns = [&](const char* key, const char* fallback, const char* label, bool standard) {
    w.namespaces.push_back(
        {setting(route->settings, {"identity", "namespaces", key}, fallback), label, standard});
  };
  ns("customer_id", "capillaryCustomerId", "Capillary customer id", false);
  ns("external_id", "capillaryExternalId", "Capillary external id", false);
  ns("card_number", "capillaryCardNumber", "Capillary card number", false);
  ns("email", "Email", "Email", true);
  ns("phone", "Phone", "Phone", true);
  if (w.tenant.empty() || w.profile_target.empty() || w.event_target.empty()) {
    return core::fail(core::ErrorKind::permanent, "setup-settings",
                      "the capillary route needs settings.tenant and settings.targets.profile and "
                      ".experience_event (setup names the datasets after them)");
  }
  json capillary = xdm_fields(json::parse(tenant_fields_json()).at("experience_event"));
  capillary.erase("title");
  capillary.erase("description");
  capillary["title"] = "Capillary";
  w.event_tenant["capillary"] = capillary;
  for (const auto& f : extra) {
    declare(w, f);
  }
  return w;
}

// Adds one mapping field to the declaration of its kind: objects on the way are created, a leaf
// already declared with the same type is left alone, a different type is a problem.
void declare(Wanted& w, const transforms::TenantField& f) {
  const bool event = f.kind == transforms::OutputKind::experience_event;
  const std::string where = fmt::format("_{}.{} ({} output, mapping {})", w.tenant, f.path,
                                        event ? "experience_event" : "profile", f.origin);
  if (f.type.empty()) {
    w.field_problems.push_back(fmt::format(
        "{} takes its JSON type from the data: give it a `type:` so setup can declare it", where));
    return;
  }
  json* props = event ? &w.event_tenant : &w.profile_tenant;
  std::vector<std::string> segments;
  for (std::size_t at = 0; at <= f.path.size();) {
    const auto dot = f.path.find('.', at);
    segments.push_back(f.path.substr(at, dot == std::string::npos ? dot : dot - at));
    at = dot == std::string::npos ? f.path.size() + 1 : dot + 1;
  }
  for (std::size_t i = 0; i < segments.size(); ++i) {
    std::string key = segments[i];
    const bool array = key.ends_with("[]");
    if (array) {
      key.resize(key.size() - 2);
    }
    const bool leaf = i + 1 == segments.size();
    json want;
    if (leaf && !array) {
      want = {{"type", f.type}, {"title", key}};
      if (!f.format.empty()) {
        want["format"] = f.format;
      }
    } else if (leaf) {
      json item = {{"type", f.type}};
      if (!f.format.empty()) {
        item["format"] = f.format;
      }
      want = {{"type", "array"}, {"title", key}, {"items", item}};
    } else if (array) {
      want = {{"type", "array"},
              {"title", key},
              {"items", {{"type", "object"}, {"properties", json::object()}}}};
    } else {
      want = {{"type", "object"}, {"title", key}, {"properties", json::object()}};
    }
    json& have = (*props)[key];
    // What is declared takes what the mapping writes: the same type, or number for integer.
    const auto takes = [](const json& declared, const json& written) {
      const std::string d = declared.value("type", "");
      const std::string x = written.value("type", "");
      return d == x || (d == "number" && x == "integer");
    };
    if (have.is_null()) {
      have = want;
    } else if (!takes(have, want) || (have.contains("items") && want.contains("items") &&
                                      !takes(have["items"], want["items"]))) {
      w.field_problems.push_back(
          fmt::format("{}: `{}` is declared as {} already, the mapping writes {}", where, key,
                      have.value("type", "?"), want.value("type", "?")));
      return;
    }
    if (!leaf) {
      props = array ? &have["items"]["properties"] : &have["properties"];
    }
  }
}

// The tenant field declaration as an XDM field group's definition: the payload-form JSON Schema
// with what XDM does not take (additionalProperties, $comment) removed.
json xdm_fields(json schema) {
  if (schema.is_object()) {
    schema.erase("additionalProperties");
    schema.erase("$comment");
    for (auto& [k, v] : schema.items()) {
      v = xdm_fields(v);
    }
  } else if (schema.is_array()) {
    for (auto& v : schema) {
      v = xdm_fields(v);
    }
  }
  return schema;
}

enum class State { exists, create, differs, conflict };

const char* to_string(State s) {
  switch (s) {
    case State::exists:
      return "exists";
    case State::create:
      return "create";
    case State::differs:
      return "differs";
    case State::conflict:
      return "conflict";
  }
  return "?";
}

struct Step {
  std::string kind;
  std::string name;
  State state = State::exists;
  std::string how;                            // for differs and conflict
  std::function<core::Result<void>()> apply;  // create or change; null for exists
};

// Ids found or created, filled as the plan is made and carried out.
struct Ids {
  std::string field_group;          // the events' tenant field group
  std::string profile_field_group;  // the profiles' (only when a mapping writes profile fields)
  std::string profile_schema;
  std::string event_schema;
  std::map<std::string, std::string> dataset;  // "profile" / "event" -> id
  std::string base_connection;
  std::map<std::string, std::string> source;
  std::map<std::string, std::string> target;
  std::map<std::string, std::string> flow;
  std::string inlet_url;
};

bool ours(const json& object) {
  return object.value("description", "").find(kCreatedBy) != std::string::npos;
}

// The oldest of several objects sharing a name (names are not unique in Flow Service or Catalog).
const json* oldest(const std::vector<json>& items) {
  const json* best = nullptr;
  for (const auto& item : items) {
    if (best == nullptr ||
        item.value("createdAt", std::int64_t{0}) < best->value("createdAt", std::int64_t{0})) {
      best = &item;
    }
  }
  return best;
}

class Planner {
 public:
  Planner(Session& s, const Wanted& w, Ids& ids) : s_(s), w_(w), ids_(ids) {}

  core::Result<std::vector<Step>> plan() {
    std::vector<Step> steps;
    using Part = core::Result<void> (Planner::*)(std::vector<Step>&);
    for (Part part : {&Planner::namespaces, &Planner::field_groups, &Planner::schemas,
                      &Planner::datasets, &Planner::connections}) {
      if (auto r = (this->*part)(steps); !r) {
        return tl::unexpected(r.error());
      }
    }
    return steps;
  }

 private:
  Session& s_;
  const Wanted& w_;
  Ids& ids_;

  core::Result<void> namespaces(std::vector<Step>& steps) {
    auto list = s_.get(s_.identity());
    if (!list) {
      return tl::unexpected(list.error());
    }
    for (const auto& ns : w_.namespaces) {
      const auto found = std::find_if(list->begin(), list->end(), [&](const json& j) {
        return j.value("code", "") == ns.code;
      });
      Step step{"identity namespace", ns.code, State::exists, {}, nullptr};
      if (found == list->end()) {
        if (ns.standard) {
          return core::fail(core::ErrorKind::permanent, "setup-standard-namespace",
                            fmt::format("the standard identity namespace '{}' is not in the "
                                        "sandbox: check identity.namespaces.{} in the route "
                                        "settings",
                                        ns.code, ns.label));
        }
        step.state = State::create;
        step.apply = [this, ns]() -> core::Result<void> {
          Call c;
          c.method = "POST";
          c.url = s_.identity();
          c.body = json{{"name", s_.named(ns.label)},
                        {"code", ns.code},
                        {"idType", "Cross_device"},
                        {"description", kCreatedBy}}
                       .dump();
          auto a = s_.api().call(c);
          if (!a) {
            return tl::unexpected(a.error());
          }
          // 409: created meanwhile (or by an earlier, interrupted run): it exists, fine.
          if ((a->status >= 200 && a->status < 300) || a->status == 409) {
            return {};
          }
          return core::fail(core::ErrorKind::permanent, "platform-refused",
                            fmt::format("creating identity namespace {}: {}", ns.code,
                                        describe_error(a->status, a->body)));
        };
      }
      steps.push_back(std::move(step));
    }
    return {};
  }

  // Tenant resources of a kind with this exact title (xed-id list, then full lookup).
  core::Result<std::optional<json>> find_resource(const std::string& kind,
                                                  const std::string& title) {
    auto list = s_.get(s_.registry("/tenant/" + kind), {{"property", "title==" + title}}, kXedId);
    if (!list) {
      return tl::unexpected(list.error());
    }
    for (const auto& r : list->value("results", json::array())) {
      if (r.value("title", "") == title) {
        auto full = s_.get(s_.registry("/tenant/" + kind + "/" + r.value("meta:altId", "")), {},
                           "application/vnd.adobe.xed+json; version=1");
        if (!full) {
          return tl::unexpected(full.error());
        }
        return std::optional<json>(*full);
      }
    }
    return std::optional<json>();
  }

  json field_group_body(bool event) const {
    return {
        {"title", s_.named(event ? "Capillary event fields" : "Capillary profile fields")},
        {"description", fmt::format("{} The tenant fields the configured transforms write "
                                    "(transforms/capillary/tenant-fields.json and mapping routes).",
                                    kCreatedBy)},
        {"type", "object"},
        {"meta:intendedToExtend", {event ? kEventClass : kProfileClass}},
        {"definitions",
         {{"capillary",
           {{"properties",
             {{"_" + w_.tenant,
               {{"type", "object"},
                {"properties", event ? w_.event_tenant : w_.profile_tenant}}}}}}}}},
        {"allOf", {{{"$ref", "#/definitions/capillary"}}}}};
  }

  // Declared fields `have` lacks, as JSON Patch adds under `pointer` (additive only: the schema
  // may already back a dataset), and their paths for the plan.
  static void missing_fields(const json& want, const json& have, const std::string& pointer,
                             const std::string& path, json& patch,
                             std::vector<std::string>& names) {
    for (const auto& [name, schema] : want.items()) {
      const std::string at = pointer + "/" + name;
      const std::string field = path.empty() ? name : path + "." + name;
      if (!have.is_object() || !have.contains(name)) {
        patch.push_back({{"op", "add"}, {"path", at}, {"value", schema}});
        names.push_back(field);
        continue;
      }
      const json& mine = have.at(name);
      if (schema.contains("properties")) {
        missing_fields(schema["properties"], mine.value("properties", json::object()),
                       at + "/properties", field, patch, names);
      } else if (schema.contains("items") && schema["items"].contains("properties")) {
        missing_fields(schema["items"]["properties"],
                       mine.value("items", json::object()).value("properties", json::object()),
                       at + "/items/properties", field + "[]", patch, names);
      }
    }
  }

  core::Result<void> field_groups(std::vector<Step>& steps) {
    for (const auto& p : w_.field_problems) {
      steps.push_back({"tenant field", p, State::conflict, {}, nullptr});
    }
    if (auto r = field_group(steps, true); !r) {
      return r;
    }
    return w_.profile_tenant.empty() ? core::Result<void>{} : field_group(steps, false);
  }

  core::Result<void> field_group(std::vector<Step>& steps, bool event) {
    std::string Ids::*slot = event ? &Ids::field_group : &Ids::profile_field_group;
    const json wanted = field_group_body(event);
    const std::string title = wanted["title"];
    auto found = find_resource("fieldgroups", title);
    if (!found) {
      return tl::unexpected(found.error());
    }
    Step step{"field group", title, State::exists, {}, nullptr};
    if (!*found) {
      step.state = State::create;
      step.apply = [this, wanted, slot]() -> core::Result<void> {
        auto r = s_.send("POST", s_.registry("/tenant/fieldgroups"), wanted);
        if (!r) {
          return tl::unexpected(r.error());
        }
        ids_.*slot = r->value("$id", "");
        return {};
      };
      steps.push_back(std::move(step));
      return {};
    }
    const json& have = **found;
    ids_.*slot = have.value("$id", "");
    const std::string base = "/definitions/capillary/properties/_" + w_.tenant + "/properties";
    json have_fields;
    try {
      have_fields = have.at(json::json_pointer(base));
    } catch (const json::exception&) {
      have_fields = json::object();
    }
    json patch = json::array();
    std::vector<std::string> missing;
    missing_fields(wanted.at(json::json_pointer(base)), have_fields, base, "", patch, missing);
    if (!missing.empty()) {
      if (!ours(have)) {
        step.state = State::conflict;
        step.how =
            fmt::format("not created by setup and lacks {} declared field(s)", missing.size());
      } else {
        step.state = State::differs;
        step.how =
            fmt::format("will add {} field(s): {}", missing.size(), fmt::join(missing, ", "));
        const std::string alt = have.value("meta:altId", "");
        step.apply = [this, alt, patch]() -> core::Result<void> {
          auto r = s_.send("PATCH", s_.registry("/tenant/fieldgroups/" + alt), patch);
          return r ? core::Result<void>{} : tl::unexpected(r.error());
        };
      }
    }
    steps.push_back(std::move(step));
    return {};
  }

  core::Result<void> schema(std::vector<Step>& steps, const std::string& title,
                            std::vector<std::string> groups, std::string Ids::*slot) {
    auto found = find_resource("schemas", title);
    if (!found) {
      return tl::unexpected(found.error());
    }
    Step step{"schema", title, State::exists, {}, nullptr};
    // Its tenant field group, when anything declares tenant fields for it (the id is read when
    // the step runs: the group may be created just before).
    const bool event = slot == &Ids::event_schema;
    std::string Ids::*group = event ? &Ids::field_group : &Ids::profile_field_group;
    const bool with_fields = !(event ? w_.event_tenant : w_.profile_tenant).empty();
    if (!*found) {
      step.state = State::create;
      step.how = "enabled for Profile";
      step.apply = [this, title, groups, slot, group, with_fields]() -> core::Result<void> {
        json all = json::array();
        for (const auto& g : groups) {
          all.push_back({{"$ref", g}});
        }
        if (with_fields) {
          all.push_back({{"$ref", ids_.*group}});
        }
        auto r = s_.send(
            "POST", s_.registry("/tenant/schemas"),
            {{"title", title}, {"description", kCreatedBy}, {"type", "object"}, {"allOf", all}});
        if (!r) {
          return tl::unexpected(r.error());
        }
        ids_.*slot = r->value("$id", "");
        auto u = s_.send(
            "PATCH", s_.registry("/tenant/schemas/" + r->value("meta:altId", "")),
            json::array({{{"op", "add"}, {"path", "/meta:immutableTags"}, {"value", {"union"}}}}));
        return u ? core::Result<void>{} : tl::unexpected(u.error());
      };
      steps.push_back(std::move(step));
      return {};
    }
    const json& have = **found;
    ids_.*slot = have.value("$id", "");
    const auto refs = have.value("meta:extends", json::array());
    std::vector<std::string> missing;
    for (const auto& g : groups) {
      if (std::find(refs.begin(), refs.end(), g) == refs.end()) {
        missing.push_back(g);
      }
    }
    const std::string group_id = ids_.*group;
    // A group created in this run has no id yet: the change adds it once it has one.
    const bool new_group = with_fields && group_id.empty();
    if (with_fields && !group_id.empty() &&
        std::find(refs.begin(), refs.end(), group_id) == refs.end()) {
      missing.push_back(group_id);
    }
    const auto tags = have.value("meta:immutableTags", json::array());
    const bool is_union = std::find(tags.begin(), tags.end(), "union") != tags.end();
    if (missing.empty() && !new_group && is_union) {
      steps.push_back(std::move(step));
      return {};
    }
    std::vector<std::string> hows;
    if (!missing.empty()) {
      hows.push_back(fmt::format("will add field group(s) {}", fmt::join(missing, ", ")));
    }
    if (new_group) {
      hows.push_back("will add the tenant field group created above");
    }
    if (!is_union) {
      hows.push_back("will enable for Profile (union)");
    }
    if (!ours(have)) {
      step.state = State::conflict;
      step.how = "not created by setup: " + fmt::format("{}", fmt::join(hows, "; "));
      steps.push_back(std::move(step));
      return {};
    }
    step.state = State::differs;
    step.how = fmt::format("{}", fmt::join(hows, "; "));
    const std::string alt = have.value("meta:altId", "");
    step.apply = [this, alt, missing, new_group, group, is_union]() -> core::Result<void> {
      json patch = json::array();
      for (const auto& g : missing) {
        patch.push_back({{"op", "add"}, {"path", "/allOf/-"}, {"value", {{"$ref", g}}}});
      }
      if (new_group) {
        patch.push_back({{"op", "add"}, {"path", "/allOf/-"}, {"value", {{"$ref", ids_.*group}}}});
      }
      if (!is_union) {
        patch.push_back({{"op", "add"}, {"path", "/meta:immutableTags"}, {"value", {"union"}}});
      }
      auto r = s_.send("PATCH", s_.registry("/tenant/schemas/" + alt), patch);
      return r ? core::Result<void>{} : tl::unexpected(r.error());
    };
    steps.push_back(std::move(step));
    return {};
  }

  core::Result<void> schemas(std::vector<Step>& steps) {
    if (auto r =
            schema(steps, s_.named("Capillary profile"), profile_groups(), &Ids::profile_schema);
        !r) {
      return r;
    }
    return schema(steps, s_.named("Capillary events"), event_groups(), &Ids::event_schema);
  }

  core::Result<void> datasets(std::vector<Step>& steps) {
    for (const auto& entry : {std::tuple{"profile", w_.profile_target, &Ids::profile_schema},
                              std::tuple{"event", w_.event_target, &Ids::event_schema}}) {
      // Plain locals, not structured bindings: lambdas below capture them (clang 14).
      const std::string key = std::get<0>(entry);
      const std::string target = std::get<1>(entry);
      std::string Ids::*const slot = std::get<2>(entry);
      const std::string name = s_.named(target);
      auto found = s_.get(s_.catalog(), {{"property", "name==" + name}, {"limit", "100"}});
      if (!found) {
        return tl::unexpected(found.error());
      }
      std::vector<json> same;
      for (const auto& [id, ds] : found->items()) {
        if (ds.value("name", "") == name) {
          json copy = ds;
          copy["id"] = id;
          same.push_back(copy);
        }
      }
      Step step{"dataset", name, State::exists, {}, nullptr};
      const std::string& k = key;
      if (same.empty()) {
        step.state = State::create;
        step.how = "Profile and Identity enabled";
        step.apply = [this, name, k, slot]() -> core::Result<void> {
          auto r = s_.send(
              "POST", s_.catalog(),
              {{"name", name},
               {"description", kCreatedBy},
               {"schemaRef", {{"id", ids_.*slot}, {"contentType", kXedFull}}},
               {"tags",
                {{"unifiedProfile", {"enabled:true"}}, {"unifiedIdentity", {"enabled:true"}}}}});
          if (!r) {
            return tl::unexpected(r.error());
          }
          const std::string ref = r->is_array() && !r->empty() ? (*r)[0].get<std::string>() : "";
          ids_.dataset[k] = ref.substr(ref.rfind('/') + 1);
          return {};
        };
        steps.push_back(std::move(step));
        continue;
      }
      const json& ds = same.front();
      ids_.dataset[k] = ds["id"];
      const std::string schema_id = ds.value("schemaRef", json::object()).value("id", "");
      if (!(ids_.*slot).empty() && schema_id != ids_.*slot) {
        step.state = State::conflict;
        step.how = fmt::format("uses schema {}, not {}", schema_id, ids_.*slot);
      } else {
        const auto tags = ds.value("tags", json::object());
        const auto enabled = [&](const char* t) {
          const auto v = tags.value(t, json::array());
          return std::find(v.begin(), v.end(), "enabled:true") != v.end();
        };
        if (!enabled("unifiedProfile") || !enabled("unifiedIdentity")) {
          step.state = ours(ds) ? State::differs : State::conflict;
          step.how = "Profile/Identity not enabled";
          if (ours(ds)) {
            step.how = "will enable Profile and Identity";
            const std::string id = ds["id"];
            step.apply = [this, id]() -> core::Result<void> {
              auto r = s_.send("PATCH", s_.catalog("/" + id),
                               json::array({{{"op", "add"},
                                             {"path", "/tags/unifiedProfile"},
                                             {"value", {"enabled:true"}}},
                                            {{"op", "add"},
                                             {"path", "/tags/unifiedIdentity"},
                                             {"value", {"enabled:true"}}}}),
                               "application/json-patch+json");
              return r ? core::Result<void>{} : tl::unexpected(r.error());
            };
          }
        }
      }
      steps.push_back(std::move(step));
    }
    return {};
  }

  core::Result<void> connections(std::vector<Step>& steps) {
    const std::string inlet = s_.named("inlet");
    auto bases = s_.flow_list("connections",
                              {{"property", "name==" + inlet},
                               {"property", std::string("connectionSpec.id==") + kHttpApiSpec}});
    if (!bases) {
      return tl::unexpected(bases.error());
    }
    Step base{"streaming connection", inlet, State::exists, {}, nullptr};
    if (const json* found = oldest(*bases)) {
      ids_.base_connection = found->value("id", "");
      const json params = found->value("auth", json::object()).value("params", json::object());
      ids_.inlet_url = params.value("inletUrl", "");
      if (!params.value("authenticationRequired", false)) {
        base.state = State::conflict;
        base.how = "does not require authentication (the sink sends IMS tokens)";
      }
    } else {
      base.state = State::create;
      base.how = "authenticated, XDM";
      base.apply = [this, inlet]() -> core::Result<void> {
        auto r = s_.send("POST", s_.flows("/connections"),
                         {{"name", inlet},
                          {"description", kCreatedBy},
                          {"connectionSpec", {{"id", kHttpApiSpec}, {"version", "1.0"}}},
                          {"auth",
                           {{"specName", "Streaming Connection"},
                            {"params",
                             {{"sourceId", inlet},
                              {"dataType", "xdm"},
                              {"name", inlet},
                              {"authenticationRequired", true}}}}}});
        if (!r) {
          return tl::unexpected(r.error());
        }
        ids_.base_connection = r->value("id", "");
        auto got = s_.get(s_.flows("/connections/" + ids_.base_connection));
        if (!got) {
          return tl::unexpected(got.error());
        }
        const auto items = got->value("items", json::array());
        if (!items.empty()) {
          ids_.inlet_url = items[0]["auth"]["params"].value("inletUrl", "");
        }
        return {};
      };
    }
    const bool base_exists = base.state != State::create;
    steps.push_back(std::move(base));

    for (const auto& [key, target] :
         {std::pair{"profile", w_.profile_target}, std::pair{"event", w_.event_target}}) {
      const std::string k = key;
      if (auto r = chain(steps, k, target, base_exists); !r) {
        return r;
      }
    }
    return {};
  }

  // Source connection, target connection and dataflow of one dataset.
  core::Result<void> chain(std::vector<Step>& steps, const std::string& key,
                           const std::string& target, bool base_exists) {
    const std::string source_name = s_.named(target + " source");
    const std::string target_name = s_.named(target + " target");
    const std::string flow_name = s_.named(target + " flow");
    std::vector<json> sources;
    std::vector<json> targets;
    std::vector<json> flows;
    if (base_exists) {
      auto s = s_.flow_list("sourceConnections",
                            {{"property", "name==" + source_name},
                             {"property", "baseConnectionId==" + ids_.base_connection}});
      auto t = s_.flow_list("targetConnections", {{"property", "name==" + target_name}});
      auto f = s_.flow_list("flows", {{"property", "name==" + flow_name},
                                      {"property", std::string("flowSpec.id==") + kFlowSpec}});
      if (!s || !t || !f) {
        return tl::unexpected(!s ? s.error() : !t ? t.error() : f.error());
      }
      sources = std::move(*s);
      targets = std::move(*t);
      flows = std::move(*f);
    }
    const auto add = [&](const std::string& kind, const std::string& name,
                         const std::vector<json>& found,
                         std::map<std::string, std::string> Ids::*slot, std::function<json()> body,
                         const std::string& path) {
      Step step{kind, name, State::exists, {}, nullptr};
      if (const json* f = oldest(found)) {
        (ids_.*slot)[key] = f->value("id", "");
      } else {
        step.state = State::create;
        step.apply = [this, key, slot, body, path]() -> core::Result<void> {
          auto r = s_.send("POST", s_.flows(path), body());
          if (!r) {
            return tl::unexpected(r.error());
          }
          (ids_.*slot)[key] = r->value("id", "");
          return {};
        };
      }
      steps.push_back(std::move(step));
    };
    add(
        "source connection", source_name, sources, &Ids::source,
        [this, source_name] {
          return json{{"name", source_name},
                      {"description", kCreatedBy},
                      {"baseConnectionId", ids_.base_connection},
                      {"connectionSpec", {{"id", kHttpApiSpec}, {"version", "1.0"}}},
                      {"data", {{"format", "json"}}}};
        },
        "/sourceConnections");
    add(
        "target connection", target_name, targets, &Ids::target,
        [this, target_name, key] {
          const std::string schema = key == "profile" ? ids_.profile_schema : ids_.event_schema;
          return json{{"name", target_name},
                      {"description", kCreatedBy},
                      {"data", {{"schema", {{"id", schema}, {"version", kXedFull}}}}},
                      {"params", {{"dataSetId", ids_.dataset[key]}}},
                      {"connectionSpec", {{"id", kDataLakeSpec}, {"version", "1.0"}}}};
        },
        "/targetConnections");
    add(
        "dataflow", flow_name, flows, &Ids::flow,
        [this, flow_name, key] {
          return json{{"name", flow_name},
                      {"description", kCreatedBy},
                      {"flowSpec", {{"id", kFlowSpec}, {"version", "1.0"}}},
                      {"sourceConnectionIds", {ids_.source[key]}},
                      {"targetConnectionIds", {ids_.target[key]}}};
        },
        "/flows");
    return {};
  }
};

std::string fragment(const Wanted& w, const Ids& ids, const config::Config& config) {
  const auto target = [&](const std::string& name, const std::string& key,
                          const std::string& schema) {
    const auto ds = ids.dataset.find(key);
    const auto flow = ids.flow.find(key);
    return fmt::format("  {}:\n    dataset_id: {}\n    schema_ref: {}\n    flow_id: {}\n", name,
                       ds != ids.dataset.end() ? ds->second : "", schema,
                       flow != ids.flow.end() ? flow->second : "");
  };
  return fmt::format(
      "# From `capillary-bridge platform setup` (sandbox {}, tenant {}). Merge into the bridge's\n"
      "# config. Platform asks for a few minutes between creating a dataflow and streaming to it.\n"
      "targets:\n{}{}"
      "sink:\n  platform:\n    ims_org_id: {}\n    inlets:\n      default:\n"
      "        url: {}\n        authenticated: true\n",
      config.platform.sandbox, w.tenant, target(w.profile_target, "profile", ids.profile_schema),
      target(w.event_target, "event", ids.event_schema), config.platform.org_id, ids.inlet_url);
}

}  // namespace

static core::Result<SetupResult> setup_all(Api& api, const config::Config& config,
                                           const std::vector<transforms::TenantField>& extra,
                                           bool dry_run, std::ostream& out) {
  auto wanted = wanted_from(config, extra);
  if (!wanted) {
    return tl::unexpected(wanted.error());
  }
  Session s(api, config, out);
  // 1. The sandbox must be active (reference §6; checked, never created).
  {
    Call c;
    c.url = fmt::format("{}/data/foundation/sandbox-management/sandboxes/{}",
                        config.platform.api_url, config.platform.sandbox);
    auto a = api.call(c, false);
    if (!a) {
      return tl::unexpected(a.error());
    }
    if (a->status == 404) {
      return core::fail(
          core::ErrorKind::permanent, "setup-sandbox",
          fmt::format("sandbox '{}' does not exist (platform.sandbox)", config.platform.sandbox));
    }
    if (a->status >= 200 && a->status < 300) {
      const auto state = json::parse(a->body, nullptr, false).value("state", "");
      if (state != "active") {
        return core::fail(core::ErrorKind::permanent, "setup-sandbox",
                          fmt::format("sandbox '{}' is {}, not active", config.platform.sandbox,
                                      state.empty() ? "in an unknown state" : state));
      }
    } else if (a->status != 403) {  // 403: not an admin; the calls below will tell
      return core::fail(core::ErrorKind::permanent, "platform-refused",
                        fmt::format("sandbox '{}': {}", config.platform.sandbox,
                                    describe_error(a->status, a->body)));
    }
  }
  // 2. The tenant the org has must be the one the transforms write.
  auto stats = s.get(s.registry("/stats"));
  if (!stats) {
    return tl::unexpected(stats.error());
  }
  std::string tenant = stats->value("tenantId", "");
  if (tenant.starts_with('_')) {
    tenant.erase(0, 1);
  }
  if (tenant != wanted->tenant) {
    return core::fail(core::ErrorKind::permanent, "setup-tenant",
                      fmt::format("the capillary route writes tenant '{}' but this org's tenant id "
                                  "is '{}': set settings.tenant: {}",
                                  wanted->tenant, tenant, tenant));
  }
  Ids ids;
  Planner planner(s, *wanted, ids);
  auto steps = planner.plan();
  if (!steps) {
    return tl::unexpected(steps.error());
  }
  int creates = 0;
  int changes = 0;
  int conflicts = 0;
  out << fmt::format("Plan for sandbox {} (tenant {}, prefix '{}'):\n", config.platform.sandbox,
                     tenant, config.platform.name_prefix);
  for (const auto& step : *steps) {
    out << fmt::format("  {:<8} {:<20} {}{}\n", to_string(step.state), step.kind, step.name,
                       step.how.empty() ? "" : " (" + step.how + ")");
    creates += step.state == State::create ? 1 : 0;
    changes += step.state == State::differs ? 1 : 0;
    conflicts += step.state == State::conflict ? 1 : 0;
  }
  out << fmt::format("{} to create, {} to change, {} conflict(s)\n", creates, changes, conflicts);
  if (conflicts > 0) {
    return core::fail(core::ErrorKind::permanent, "setup-conflict",
                      fmt::format("{} conflict(s) in the plan, nothing changed: an object of "
                                  "setup's names that does not fit (setup never changes what it "
                                  "did not create: remove it or choose another "
                                  "platform.name_prefix), or a mapping field it cannot declare",
                                  conflicts));
  }
  SetupResult result;
  if (dry_run) {
    out << "Dry run: nothing changed.\n";
    return result;
  }
  for (const auto& step : *steps) {
    if (!step.apply) {
      continue;
    }
    if (auto r = step.apply(); !r) {
      return core::fail(
          r.error().kind, r.error().code,
          fmt::format("{} '{}': {} ({} created, {} changed before it; run setup "
                      "again to finish)",
                      step.kind, step.name, r.error().message, result.created, result.changed));
    }
    (step.state == State::create ? result.created : result.changed) += 1;
  }
  out << fmt::format("{} created, {} changed.\n", result.created, result.changed);
  result.fragment = fragment(*wanted, ids, config);
  for (const auto& [key, name, schema] :
       {std::tuple{"profile", wanted->profile_target, ids.profile_schema},
        std::tuple{"event", wanted->event_target, ids.event_schema}}) {
    result.targets[name] = {ids.dataset[key], schema, ids.flow[key]};
  }
  result.inlet_url = ids.inlet_url;
  return result;
}

core::Result<SetupResult> setup(Api& api, const config::Config& config,
                                const std::vector<transforms::TenantField>& extra, bool dry_run,
                                std::ostream& out) {
  return tolerating_shapes([&] { return setup_all(api, config, extra, dry_run, out); });
}

static core::Result<int> teardown_all(Api& api, const config::Config& config, std::ostream& out) {
  Session s(api, config, out);
  const std::string prefix = config.platform.name_prefix + " ";
  const auto mine = [&](const json& o, const char* name_key) {
    return o.value(name_key, "").starts_with(prefix) && ours(o);
  };
  int deleted = 0;
  const auto remove = [&](const std::string& what, const std::string& name,
                          const std::string& url) -> core::Result<void> {
    Call c;
    c.method = "DELETE";
    c.url = url;
    auto a = api.call(c);
    if (!a) {
      return tl::unexpected(a.error());
    }
    if (a->status == 404) {
      return {};  // gone already
    }
    if (a->status < 200 || a->status >= 300) {
      return core::fail(
          core::ErrorKind::permanent, "platform-refused",
          fmt::format("deleting {} '{}': {}", what, name, describe_error(a->status, a->body)));
    }
    out << fmt::format("  deleted  {:<20} {}\n", what, name);
    ++deleted;
    return {};
  };
  // Dataflows, then source and target connections, then base connections (reference §5.6).
  for (const auto& [kind, label] :
       {std::pair{"flows", "dataflow"}, std::pair{"sourceConnections", "source connection"},
        std::pair{"targetConnections", "target connection"},
        std::pair{"connections", "streaming connection"}}) {
    auto items = s.flow_list(kind, {});
    if (!items) {
      return tl::unexpected(items.error());
    }
    for (const auto& o : *items) {
      if (mine(o, "name")) {
        if (auto r = remove(label, o.value("name", ""),
                            s.flows(fmt::format("/{}/{}", kind, o.value("id", ""))));
            !r) {
          return tl::unexpected(r.error());
        }
      }
    }
  }
  // Datasets.
  for (int start = 0;; start += 100) {
    auto page = s.get(s.catalog(), {{"limit", "100"}, {"start", std::to_string(start)}});
    if (!page) {
      return tl::unexpected(page.error());
    }
    int seen = 0;
    std::vector<std::pair<std::string, std::string>> doomed;
    for (const auto& [id, ds] : page->items()) {
      ++seen;
      if (mine(ds, "name")) {
        doomed.emplace_back(id, ds.value("name", ""));
      }
    }
    for (const auto& [id, name] : doomed) {
      if (auto r = remove("dataset", name, s.catalog("/" + id)); !r) {
        return tl::unexpected(r.error());
      }
    }
    start -= static_cast<int>(doomed.size());  // the page shifted
    if (seen < 100) {
      break;
    }
  }
  // Schemas (their descriptors go with them), then field groups.
  for (const auto& [kind, label] :
       {std::pair{"schemas", "schema"}, std::pair{"fieldgroups", "field group"}}) {
    auto list =
        s.get(s.registry(std::string("/tenant/") + kind), {}, "application/vnd.adobe.xed+json");
    if (!list) {
      return tl::unexpected(list.error());
    }
    for (const auto& r : list->value("results", json::array())) {
      if (mine(r, "title")) {
        if (auto d =
                remove(label, r.value("title", ""),
                       s.registry(fmt::format("/tenant/{}/{}", kind, r.value("meta:altId", ""))));
            !d) {
          return tl::unexpected(d.error());
        }
      }
    }
  }
  out << fmt::format("{} deleted. Identity namespaces stay: Platform cannot delete them.\n",
                     deleted);
  return deleted;
}

core::Result<int> teardown(Api& api, const config::Config& config, std::ostream& out) {
  return tolerating_shapes([&] { return teardown_all(api, config, out); });
}

}  // namespace bridge::provision

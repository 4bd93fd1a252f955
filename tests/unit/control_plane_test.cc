// The emulator's Platform control plane, request by request (no sockets): the gateway's header
// checks, Schema Registry, Identity, Catalog, Flow Service and Sandbox shapes and rules from
// ../shared/reference/platform-provisioning.md.

#include "bridge/emulator/control_plane.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

namespace bridge::emulator {
namespace {

using nlohmann::json;

constexpr const char* kRegistry = "/data/foundation/schemaregistry";
constexpr const char* kProfile = "https://ns.adobe.com/xdm/context/profile";
constexpr const char* kHttpSpec = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb";

class ControlPlaneTest : public ::testing::Test {
 protected:
  ControlPlane cp{ControlPlaneOptions{.org_id = "ORG@AdobeOrg",
                                      .api_key = "client",
                                      .tenant_id = "acme",
                                      .sandboxes = {"prod", "dev"},
                                      .inlet_base_url = "http://127.0.0.1:1"}};

  static CpRequest request(std::string method, std::string path, std::string body = {}) {
    CpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.body = std::move(body);
    r.headers = {{"authorization", "Bearer t"},
                 {"x-api-key", "client"},
                 {"x-gw-ims-org-id", "ORG@AdobeOrg"},
                 {"x-sandbox-name", "prod"}};
    if (!r.body.empty()) {
      r.headers["content-type"] = "application/json";
    }
    r.token_valid = true;
    return r;
  }

  CpAnswer call(std::string method, std::string path, const json& body = nullptr,
                std::vector<std::pair<std::string, std::string>> query = {},
                std::map<std::string, std::string> headers = {}) {
    CpRequest r = request(std::move(method), std::move(path), body.is_null() ? "" : body.dump());
    r.query = std::move(query);
    for (auto& [k, v] : headers) {
      r.headers[k] = v;
    }
    return cp.handle(r);
  }

  static json parse(const CpAnswer& a) { return a.body.empty() ? json() : json::parse(a.body); }

  json field_group(const std::string& title, const json& fields) {
    const auto a = call("POST", std::string(kRegistry) + "/tenant/fieldgroups",
                        {{"title", title},
                         {"type", "object"},
                         {"meta:intendedToExtend", {kProfile}},
                         {"definitions", {{"f", {{"properties", fields}}}}},
                         {"allOf", {{{"$ref", "#/definitions/f"}}}}});
    EXPECT_EQ(a.status, 201) << a.body;
    return parse(a);
  }

  json schema(const std::string& title, const std::vector<std::string>& refs) {
    json all = json::array();
    for (const auto& r : refs) {
      all.push_back({{"$ref", r}});
    }
    const auto a = call("POST", std::string(kRegistry) + "/tenant/schemas",
                        {{"title", title}, {"type", "object"}, {"allOf", all}});
    EXPECT_EQ(a.status, 201) << a.body;
    return parse(a);
  }

  json tenant_fields() {
    return {{"_acme", {{"type", "object"}, {"properties", {{"loyaltyId", {{"type", "string"}}}}}}}};
  }

  // A profile schema with a primary identity descriptor, enabled for Profile.
  json union_schema() {
    const json fg = field_group("union fields", tenant_fields());
    json s = schema("union profile", {kProfile, fg["$id"]});
    EXPECT_EQ(call("POST", std::string(kRegistry) + "/tenant/descriptors",
                   {{"@type", "xdm:descriptorIdentity"},
                    {"xdm:sourceSchema", s["$id"]},
                    {"xdm:sourceVersion", 1},
                    {"xdm:sourceProperty", "/_acme/loyaltyId"},
                    {"xdm:namespace", "capillaryCustomerId"},
                    {"xdm:property", "xdm:code"},
                    {"xdm:isPrimary", true}})
                  .status,
              201);
    const auto a = call(
        "PATCH", std::string(kRegistry) + "/tenant/schemas/" + s["meta:altId"].get<std::string>(),
        json::array({{{"op", "add"}, {"path", "/meta:immutableTags"}, {"value", {"union"}}}}));
    EXPECT_EQ(a.status, 200) << a.body;
    return parse(a);
  }
};

TEST_F(ControlPlaneTest, GatewayRefusesMissingOrWrongCredentialsWithItsOwnBody) {
  const std::string path = std::string(kRegistry) + "/stats";
  const auto expect = [&](CpRequest r, int status, const std::string& code) {
    const auto a = cp.handle(r);
    EXPECT_EQ(a.status, status) << code;
    EXPECT_EQ(parse(a).value("error_code", ""), code) << a.body;
  };
  auto r = request("GET", path);
  r.headers.erase("authorization");
  expect(r, 403, "403010");
  r = request("GET", path);
  r.token_valid = false;
  expect(r, 401, "401013");
  r = request("GET", path);
  r.headers.erase("x-api-key");
  expect(r, 403, "403000");
  r = request("GET", path);
  r.headers["x-api-key"] = "other";
  expect(r, 403, "403003");
  r = request("GET", path);
  r.headers.erase("x-gw-ims-org-id");
  expect(r, 400, "400003");
  r = request("GET", path);
  r.headers["x-gw-ims-org-id"] = "OTHER@AdobeOrg";
  expect(r, 403, "403025");
  EXPECT_EQ(cp.handle(request("GET", path)).status, 200);
}

TEST_F(ControlPlaneTest, ServicesNeedAnActiveSandbox) {
  const std::string path = std::string(kRegistry) + "/stats";
  auto r = request("GET", path);
  r.headers["x-sandbox-name"] = "nope";
  EXPECT_EQ(cp.handle(r).status, 403);
  r.headers.erase("x-sandbox-name");
  EXPECT_EQ(cp.handle(r).status, 400);
  cp.set_sandbox_state("dev", "deleted");
  r.headers["x-sandbox-name"] = "dev";
  EXPECT_EQ(cp.handle(r).status, 403);

  // Sandbox management reports the state, and 404 for a name it does not know.
  const auto dev = call("GET", "/data/foundation/sandbox-management/sandboxes/dev");
  EXPECT_EQ(dev.status, 200);
  EXPECT_EQ(parse(dev)["state"], "deleted");
  EXPECT_EQ(call("GET", "/data/foundation/sandbox-management/sandboxes/nope").status, 404);
  EXPECT_EQ(parse(call("GET", "/data/foundation/sandbox-management/"))["sandboxes"].size(), 2U);
}

TEST_F(ControlPlaneTest, StatsNameTheTenant) {
  const auto a = call("GET", std::string(kRegistry) + "/stats");
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(parse(a)["tenantId"], "acme");
  EXPECT_EQ(parse(a)["imsOrg"], "ORG@AdobeOrg");
}

TEST_F(ControlPlaneTest, FieldGroupsGetRegistryIdsAndMustKeepFieldsUnderTheTenant) {
  const json fg = field_group("Capillary fields", tenant_fields());
  EXPECT_TRUE(std::regex_match(fg["$id"].get<std::string>(),
                               std::regex("https://ns\\.adobe\\.com/acme/mixins/[0-9a-f]{32}")));
  EXPECT_TRUE(std::regex_match(fg["meta:altId"].get<std::string>(),
                               std::regex("_acme\\.mixins\\.[0-9a-f]{32}")));
  EXPECT_EQ(fg["version"], "1.0");
  EXPECT_EQ(fg["meta:resourceType"], "mixins");

  // A second object with the same title, of any kind: XDM-1521.
  const auto dup = call("POST", std::string(kRegistry) + "/tenant/schemas",
                        {{"title", "Capillary fields"}, {"allOf", {{{"$ref", kProfile}}}}});
  EXPECT_EQ(dup.status, 400);
  EXPECT_NE(parse(dup)["type"].get<std::string>().find("XDM-1521-400"), std::string::npos);

  const auto outside =
      call("POST", std::string(kRegistry) + "/tenant/fieldgroups",
           {{"title", "bad"},
            {"meta:intendedToExtend", {kProfile}},
            {"definitions", {{"f", {{"properties", {{"loyaltyId", {{"type", "string"}}}}}}}}}});
  EXPECT_EQ(outside.status, 400);
  EXPECT_NE(outside.body.find("XDM-1021-400"), std::string::npos);
}

TEST_F(ControlPlaneTest, ListsNeedTheirAcceptHeaderAndFilterByTitle) {
  field_group("b fields", tenant_fields());
  field_group("a fields", tenant_fields());
  const std::string path = std::string(kRegistry) + "/tenant/fieldgroups";
  EXPECT_NE(call("GET", path).body.find("XDM-1006-400"), std::string::npos);
  const std::map<std::string, std::string> accept = {
      {"accept", "application/vnd.adobe.xed-id+json"}};
  const auto one = parse(call("GET", path, nullptr, {{"property", "title==b fields"}}, accept));
  ASSERT_EQ(one["results"].size(), 1U);
  EXPECT_EQ(one["results"][0]["title"], "b fields");
  EXPECT_FALSE(one["results"][0].contains("definitions"));  // xed-id: ids and titles only

  // Paging: limit 1 in title order, then start after the last title.
  const auto first =
      parse(call("GET", path, nullptr, {{"orderby", "title"}, {"limit", "1"}}, accept));
  ASSERT_EQ(first["results"].size(), 1U);
  EXPECT_EQ(first["results"][0]["title"], "a fields");
  ASSERT_EQ(first["_page"]["next"], "a fields");
  const auto second = parse(call(
      "GET", path, nullptr, {{"orderby", "title"}, {"limit", "1"}, {"start", "a fields"}}, accept));
  ASSERT_EQ(second["results"].size(), 1U);
  EXPECT_EQ(second["results"][0]["title"], "b fields");
  EXPECT_TRUE(second["_page"]["next"].is_null());
}

TEST_F(ControlPlaneTest, SchemasResolveTheirClassAndTenantFields) {
  const json fg = field_group("fields", tenant_fields());
  const json s = schema("profile", {kProfile, fg["$id"]});
  EXPECT_EQ(s["meta:class"], kProfile);
  EXPECT_EQ(s["meta:extends"], json::array({kProfile, fg["$id"]}));

  const std::string path =
      std::string(kRegistry) + "/tenant/schemas/" + s["meta:altId"].get<std::string>();
  EXPECT_NE(call("GET", path, nullptr, {}, {{"accept", "application/vnd.adobe.xed+json"}})
                .body.find("XDM-1007-400"),
            std::string::npos);
  const auto full = parse(call("GET", path, nullptr, {},
                               {{"accept", "application/vnd.adobe.xed-full+json; version=1"}}));
  EXPECT_EQ(full["properties"]["_acme"]["properties"]["loyaltyId"]["type"], "string");
  EXPECT_FALSE(full.contains("allOf"));
  // By $id (URL-decoded) as well as by altId.
  EXPECT_EQ(call("GET", std::string(kRegistry) + "/tenant/schemas/" + s["$id"].get<std::string>(),
                 nullptr, {}, {{"accept", "application/vnd.adobe.xed+json;version=1"}})
                .status,
            200);

  const auto unknown = call(
      "POST", std::string(kRegistry) + "/tenant/schemas",
      {{"title", "x"},
       {"allOf", {{{"$ref", kProfile}}, {{"$ref", "https://ns.adobe.com/acme/mixins/ffff"}}}}});
  EXPECT_EQ(unknown.status, 400);
  const auto no_class = call("POST", std::string(kRegistry) + "/tenant/schemas",
                             {{"title", "y"}, {"allOf", {{{"$ref", fg["$id"]}}}}});
  EXPECT_EQ(no_class.status, 400);
}

TEST_F(ControlPlaneTest, ProfileUnionNeedsAPrimaryIdentityAndIsForever) {
  const json fg = field_group("fields", tenant_fields());
  const json s = schema("profile", {kProfile, fg["$id"]});
  const std::string path =
      std::string(kRegistry) + "/tenant/schemas/" + s["meta:altId"].get<std::string>();
  const json add_union =
      json::array({{{"op", "add"}, {"path", "/meta:immutableTags"}, {"value", {"union"}}}});
  const auto refused = call("PATCH", path, add_union);
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("XDM-1528-400"), std::string::npos);

  const json descriptor = {{"@type", "xdm:descriptorIdentity"},
                           {"xdm:sourceSchema", s["$id"]},
                           {"xdm:sourceVersion", 1},
                           {"xdm:sourceProperty", "/_acme/loyaltyId"},
                           {"xdm:namespace", "capillaryCustomerId"},
                           {"xdm:property", "xdm:code"},
                           {"xdm:isPrimary", true}};
  const auto created = call("POST", std::string(kRegistry) + "/tenant/descriptors", descriptor);
  ASSERT_EQ(created.status, 201);
  EXPECT_TRUE(
      std::regex_match(parse(created)["@id"].get<std::string>(), std::regex("[0-9a-f]{40}")));
  EXPECT_EQ(call("POST", std::string(kRegistry) + "/tenant/descriptors", descriptor).status, 400)
      << "a second primary identity";
  const auto list = parse(call("GET", std::string(kRegistry) + "/tenant/descriptors", nullptr, {},
                               {{"accept", "application/vnd.adobe.xdm+json"}}));
  ASSERT_EQ(list["xdm:descriptorIdentity"].size(), 1U);

  const auto enabled = call("PATCH", path, add_union);
  ASSERT_EQ(enabled.status, 200) << enabled.body;
  EXPECT_EQ(parse(enabled)["meta:immutableTags"], json::array({"union"}));
  EXPECT_EQ(parse(enabled)["version"], "1.1");
  const auto removed =
      call("PATCH", path, json::array({{{"op", "remove"}, {"path", "/meta:immutableTags"}}}));
  EXPECT_EQ(removed.status, 400);

  // The identityMap field group is a primary identity too: each record names its primary entry.
  const json with_map =
      schema("with identityMap", {kProfile, "https://ns.adobe.com/xdm/context/identitymap"});
  EXPECT_EQ(
      call("PATCH",
           std::string(kRegistry) + "/tenant/schemas/" + with_map["meta:altId"].get<std::string>(),
           add_union)
          .status,
      200);
}

TEST_F(ControlPlaneTest, InUseResourcesCannotBeDeletedAndDeletesAreFinal) {
  const json s = union_schema();
  const std::string fg_id = s["meta:extends"][1];
  EXPECT_EQ(call("DELETE", std::string(kRegistry) + "/tenant/fieldgroups/" + fg_id).status, 400);
  const auto ds = call("POST", "/data/foundation/catalog/dataSets",
                       {{"name", "d"}, {"schemaRef", {{"id", s["$id"]}}}});
  ASSERT_EQ(ds.status, 201);
  const std::string schema_path =
      std::string(kRegistry) + "/tenant/schemas/" + s["meta:altId"].get<std::string>();
  EXPECT_EQ(call("DELETE", schema_path).status, 400) << "a dataset uses it";
  const std::string ds_id =
      parse(ds)[0].get<std::string>().substr(std::string("@/dataSets/").size());
  EXPECT_EQ(call("DELETE", "/data/foundation/catalog/dataSets/" + ds_id).status, 200);
  EXPECT_EQ(call("DELETE", schema_path).status, 204);
  EXPECT_EQ(call("GET", schema_path, nullptr, {},
                 {{"accept", "application/vnd.adobe.xed+json; version=1"}})
                .status,
            404);
  EXPECT_EQ(call("DELETE", std::string(kRegistry) + "/tenant/fieldgroups/" + fg_id).status, 204);
  const auto descriptors = parse(call("GET", std::string(kRegistry) + "/tenant/descriptors",
                                      nullptr, {}, {{"accept", "application/vnd.adobe.xdm+json"}}));
  EXPECT_TRUE(descriptors.empty()) << "a deleted schema's descriptors go with it";
}

TEST_F(ControlPlaneTest, NamespacesAreSeededCreatedOnceAndValidated) {
  const auto list = parse(call("GET", "/data/core/idnamespace/identities"));
  ASSERT_TRUE(list.is_array());
  bool ecid = false;
  bool email = false;
  for (const auto& ns : list) {
    ecid = ecid || (ns["code"] == "ECID" && ns["id"] == 4);
    email = email || (ns["code"] == "Email" && ns["custom"] == false);
  }
  EXPECT_TRUE(ecid && email);

  const json body = {
      {"name", "Capillary customer"}, {"code", "capillaryCustomerId"}, {"idType", "Cross_device"}};
  const auto created = call("POST", "/data/core/idnamespace/identities", body);
  EXPECT_EQ(created.status, 200);  // 200, not 201
  EXPECT_EQ(parse(created)["custom"], true);
  const auto dup = call("POST", "/data/core/idnamespace/identities", body);
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(parse(dup)["title"], "NAMESPACE_CODE_CONFLICT");
  EXPECT_EQ(call("POST", "/data/core/idnamespace/identities",
                 {{"name", "x"}, {"code", "bad code"}, {"idType", "Cross_device"}})
                .status,
            400);
  EXPECT_EQ(call("POST", "/data/core/idnamespace/identities",
                 {{"name", "x"}, {"code", "x1"}, {"idType", "Bogus"}})
                .status,
            400);
}

TEST_F(ControlPlaneTest, ProfileDatasetsNeedAUnionSchemaAndAreFoundByName) {
  const json fg = field_group("fields", tenant_fields());
  const json plain = schema("plain", {kProfile, fg["$id"]});
  const json tags = {{"unifiedProfile", {"enabled:true"}}, {"unifiedIdentity", {"enabled:true"}}};
  EXPECT_EQ(call("POST", "/data/foundation/catalog/dataSets",
                 {{"name", "p"}, {"schemaRef", {{"id", plain["$id"]}}}, {"tags", tags}})
                .status,
            400);
  EXPECT_EQ(call("POST", "/data/foundation/catalog/dataSets",
                 {{"name", "p"}, {"schemaRef", {{"id", "https://ns.adobe.com/acme/schemas/0"}}}})
                .status,
            400);

  const json s = union_schema();
  const auto created =
      call("POST", "/data/foundation/catalog/dataSets",
           {{"name", "profiles"}, {"schemaRef", {{"id", s["$id"]}}}, {"tags", tags}});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string ref = parse(created)[0];
  ASSERT_TRUE(std::regex_match(ref, std::regex("@/dataSets/[0-9a-f]{24}")));
  const std::string id = ref.substr(std::string("@/dataSets/").size());

  const auto found = parse(
      call("GET", "/data/foundation/catalog/dataSets", nullptr, {{"property", "name==profiles"}}));
  ASSERT_EQ(found.size(), 1U);
  EXPECT_TRUE(found.contains(id));
  EXPECT_TRUE(parse(call("GET", "/data/foundation/catalog/dataSets", nullptr,
                         {{"property", "name==nothing"}}))
                  .empty());

  CpRequest patch =
      request("PATCH", "/data/foundation/catalog/dataSets/" + id,
              json::array({{{"op", "add"}, {"path", "/tags/extra"}, {"value", {"x"}}}}).dump());
  patch.headers["content-type"] = "application/json-patch+json";
  EXPECT_EQ(cp.handle(patch).status, 200);
  const auto got = parse(call("GET", "/data/foundation/catalog/dataSets/" + id));
  EXPECT_EQ(got[id]["tags"]["extra"], json::array({"x"}));
  EXPECT_EQ(got[id]["tags"]["unifiedProfile"], json::array({"enabled:true"}));
}

TEST_F(ControlPlaneTest, FlowServiceChainsConnectionsToDataflowsAndReportsTheInlet) {
  const json s = union_schema();
  const auto ds = parse(call("POST", "/data/foundation/catalog/dataSets",
                             {{"name", "d"}, {"schemaRef", {{"id", s["$id"]}}}}));
  const std::string ds_id = ds[0].get<std::string>().substr(std::string("@/dataSets/").size());
  const std::string fs = "/data/foundation/flowservice";

  const auto base = call(
      "POST", fs + "/connections",
      {{"name", "inlet"},
       {"connectionSpec", {{"id", kHttpSpec}, {"version", "1.0"}}},
       {"auth",
        {{"specName", "Streaming Connection"},
         {"params", {{"dataType", "xdm"}, {"name", "inlet"}, {"authenticationRequired", true}}}}}});
  ASSERT_EQ(base.status, 201);
  const json base_body = parse(base);
  EXPECT_TRUE(std::regex_match(base_body["etag"].get<std::string>(), std::regex("\".+\"")));
  const std::string base_id = base_body["id"];
  const auto got = parse(call("GET", fs + "/connections/" + base_id));
  ASSERT_EQ(got["items"].size(), 1U);
  const auto params = got["items"][0]["auth"]["params"];
  EXPECT_TRUE(std::regex_match(params["inletId"].get<std::string>(), std::regex("[0-9a-f]{64}")));
  EXPECT_EQ(params["inletUrl"],
            "http://127.0.0.1:1/collection/" + params["inletId"].get<std::string>());

  EXPECT_EQ(
      call("POST", fs + "/sourceConnections", {{"name", "s"}, {"baseConnectionId", "nope"}}).status,
      400);
  const auto source =
      call("POST", fs + "/sourceConnections",
           {{"name", "s"}, {"baseConnectionId", base_id}, {"data", {{"format", "json"}}}});
  ASSERT_EQ(source.status, 201);
  EXPECT_EQ(
      call("POST", fs + "/targetConnections", {{"name", "t"}, {"params", {{"dataSetId", "0"}}}})
          .status,
      400);
  const auto target = call("POST", fs + "/targetConnections",
                           {{"name", "t"},
                            {"data", {{"schema", {{"id", s["$id"]}}}}},
                            {"params", {{"dataSetId", ds_id}}}});
  ASSERT_EQ(target.status, 201);
  const json flow_body = {{"name", "flow"},
                          {"flowSpec", {{"id", "d8a6f005-7eaf-4153-983e-e8574508b877"}}},
                          {"sourceConnectionIds", {parse(source)["id"]}},
                          {"targetConnectionIds", {parse(target)["id"]}}};
  const auto flow = call("POST", fs + "/flows", flow_body);
  ASSERT_EQ(flow.status, 201);
  json bad_flow = flow_body;
  bad_flow["targetConnectionIds"] = {"nope"};
  EXPECT_EQ(call("POST", fs + "/flows", bad_flow).status, 400);

  // Filters: dotted paths, [] into arrays, any-of; count only.
  const std::string source_id = parse(source)["id"];
  EXPECT_EQ(parse(call("GET", fs + "/flows", nullptr,
                       {{"property", "sourceConnectionIds[]==" + source_id}}))["items"]
                .size(),
            1U);
  EXPECT_EQ(parse(call("GET", fs + "/connections", nullptr,
                       {{"property", "name==inlet"},
                        {"property", std::string("connectionSpec.id==x,") + kHttpSpec}}))["items"]
                .size(),
            1U);
  EXPECT_EQ(
      parse(call("GET", fs + "/flows", nullptr, {{"property", "name==other"}}))["items"].size(),
      0U);
  EXPECT_EQ(parse(call("GET", fs + "/flows", nullptr, {{"count", "true"}}))["count"], 1);

  // Disable needs the current etag.
  const std::string flow_id = parse(flow)["id"];
  const std::string etag = parse(flow)["etag"];
  EXPECT_EQ(call("POST", fs + "/flows/" + flow_id + "/action", nullptr, {{"op", "DISABLE"}},
                 {{"if-match", "\"stale\""}})
                .status,
            412);
  EXPECT_EQ(call("POST", fs + "/flows/" + flow_id + "/action", nullptr, {{"op", "DISABLE"}},
                 {{"if-match", etag}})
                .status,
            200);
  EXPECT_EQ(parse(call("GET", fs + "/flows/" + flow_id))["items"][0]["state"], "disabled");

  EXPECT_EQ(call("DELETE", fs + "/flows/" + flow_id).status, 204);
  EXPECT_EQ(call("GET", fs + "/flows/" + flow_id).status, 404);
}

TEST_F(ControlPlaneTest, FlowListsPageWithAContinuationToken) {
  const std::string fs = "/data/foundation/flowservice";
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(call("POST", fs + "/connections",
                   {{"name", "c" + std::to_string(i)}, {"connectionSpec", {{"id", kHttpSpec}}}})
                  .status,
              201);
  }
  std::set<std::string> names;
  std::vector<std::pair<std::string, std::string>> query = {{"limit", "2"}};
  for (int page = 0; page < 3; ++page) {
    const auto body = parse(call("GET", fs + "/connections", nullptr, query));
    for (const auto& item : body["items"]) {
      names.insert(item["name"]);
    }
    if (!body["_links"].contains("next")) {
      break;
    }
    const std::string href = body["_links"]["next"]["href"];
    const auto at = href.find("continuationToken=");
    ASSERT_NE(at, std::string::npos);
    query = {{"limit", "2"}, {"continuationToken", href.substr(at + 18)}};
  }
  EXPECT_EQ(names, (std::set<std::string>{"c0", "c1", "c2"}));
}

TEST_F(ControlPlaneTest, WritesNeedAContentTypeAndResetForgetsEverything) {
  CpRequest r = request("POST", "/data/core/idnamespace/identities",
                        R"({"name":"x","code":"x1","idType":"Cross_device"})");
  r.headers.erase("content-type");
  const auto refused = cp.handle(r);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(parse(refused)["title"], "BadRequestError");

  union_schema();
  const auto before = json::parse(cp.dump());
  EXPECT_EQ(before["schemaRegistry"]["resources"].size(), 2U);
  EXPECT_GT(before["writes"].get<int>(), 0);
  cp.reset();
  const auto after = json::parse(cp.dump());
  EXPECT_TRUE(after["schemaRegistry"]["resources"].empty());
  EXPECT_EQ(after["writes"], 0);
}

}  // namespace
}  // namespace bridge::emulator

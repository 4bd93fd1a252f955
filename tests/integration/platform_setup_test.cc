// `capillary-bridge platform setup | teardown` (the real binary) against the emulator's control
// plane (an in-process Server on a free loopback port): from empty to everything, idempotence,
// the dry run, additive repairs, objects setup did not create, tenant and sandbox guards,
// throttling, and a teardown that leaves the emulator as it found it. No Kafka broker needed.

#include <curl/curl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "bridge/emulator/server.h"
#include "tests/harness/process.h"

namespace bridge {
namespace {

using harness::ChildOptions;
using harness::ChildProcess;
using harness::TempDir;
using nlohmann::json;

constexpr const char* kOrg = "0123456789ABCDEF@AdobeOrg";

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

class PlatformSetupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emulator::Options options;
    options.ims_org_id = kOrg;
    options.tenant_id = "acme";
    options.seed = 7;
    auto started = emulator::Server::start(options);
    ASSERT_TRUE(started) << started.error().message;
    server_ = std::move(*started);
    write_config("acme", "prod", 5);
  }

  // `targets` and the inlet: placeholders until setup has printed the real ones.
  void write_config(const std::string& tenant, const std::string& sandbox, int attempts,
                    std::string targets = {}, std::string inlet = {}, bool authenticated = true,
                    const std::string& check_at_start = "off") {
    const std::string base = server_->base_url();
    if (targets.empty()) {
      targets = fmt::format(
          "targets:\n"
          "  profiles: {{dataset_id: \"0\", schema_ref: \"https://ns.adobe.com/{0}/schemas/0\"}}\n"
          "  events: {{dataset_id: \"0\", schema_ref: \"https://ns.adobe.com/{0}/schemas/0\"}}\n",
          tenant);
    }
    if (inlet.empty()) {
      inlet = base + "/collection/x";
    }
    harness::write_file(config_, fmt::format(R"(kafka:
  brokers: 127.0.0.1:1
  topics: [capillary.events]
dead_letter:
  topic: capillary.dlq
{5}
routes:
{9}  - transform: capillary
    settings:
      tenant: {0}
      targets: {{profile: profiles, experience_event: events}}
sink:
  type: platform
  platform:
    inlets: {{default: {{url: "{6}", authenticated: {7}}}}}
    ims: {{token_url: "{1}/ims/token/v3", client_id: capillary-bridge-dev, client_secret: dev-secret}}
platform:
  api_url: {1}
  org_id: "{2}"
  sandbox: {3}
  max_attempts: {4}
  check_at_start: {8}
log: {{level: info}}
)",
                                             tenant, base, kOrg, sandbox, attempts, targets, inlet,
                                             authenticated, check_at_start, mapping_routes_));
  }

  Outcome bridge(std::vector<std::string> args) {
    ChildOptions o;
    o.args = {harness::bridge_binary()};
    o.args.insert(o.args.end(), args.begin(), args.end());
    o.stdout_path = dir_.file("out.txt");
    o.stderr_path = dir_.file("err.txt");
    ChildProcess child(o);
    const auto status = child.wait(std::chrono::seconds(90));
    Outcome r;
    r.code = status && status->exited ? status->code : -1;
    r.out = harness::read_file(o.stdout_path);
    r.err = harness::read_file(o.stderr_path);
    return r;
  }

  Outcome setup(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"platform", "setup", "-c", config_};
    args.insert(args.end(), extra.begin(), extra.end());
    return bridge(args);
  }

  Outcome teardown() { return bridge({"platform", "teardown", "-c", config_, "--yes"}); }

  json dump() const { return json::parse(server_->control_plane_dump()); }

  // One control-plane call as another client would make it.
  json api(const std::string& method, const std::string& path, const json& body = nullptr) {
    if (token_.empty()) {
      const auto t = raw(
          "POST", "/ims/token/v3",
          "grant_type=client_credentials&client_id=capillary-bridge-dev&client_secret=dev-secret",
          {"Content-Type: application/x-www-form-urlencoded"});
      token_ = json::parse(t.second)["access_token"];
    }
    const auto r = raw(
        method, path, body.is_null() ? "" : body.dump(),
        {"Authorization: Bearer " + token_, "x-api-key: capillary-bridge-dev",
         std::string("x-gw-ims-org-id: ") + kOrg, "x-sandbox-name: prod",
         "Content-Type: application/json", "Accept: application/vnd.adobe.xed+json; version=1"});
    EXPECT_LT(r.first, 300) << method << " " << path << ": " << r.second;
    return r.second.empty() ? json() : json::parse(r.second);
  }

  std::pair<long, std::string> raw(const std::string& method, const std::string& path,
                                   const std::string& body,
                                   const std::vector<std::string>& headers) {
    CURL* curl = curl_easy_init();
    std::string out;
    curl_slist* list = nullptr;
    for (const auto& h : headers) {
      list = curl_slist_append(list, h.c_str());
    }
    const std::string url = server_->base_url() + path;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (!body.empty()) {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK) {
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return {status, out};
  }

  // Someone else removes a declared field from the tenant field group setup created.
  void remove_declared_field(const json& d, const std::string& field) {
    const std::string fg = (*resource(d, "capillary-bridge Capillary event fields"))["meta:altId"];
    api("PATCH", "/data/foundation/schemaregistry/tenant/fieldgroups/" + fg,
        json::array(
            {{{"op", "remove"},
              {"path", "/definitions/capillary/properties/_acme/properties/capillary/properties/" +
                           field}}}));
  }

  // Runs setup with --output and returns the fragment's targets block and inlet URL.
  std::pair<std::string, std::string> deploy() {
    EXPECT_EQ(setup({"--output", dir_.file("fragment.yaml")}).code, 0);
    const std::string fragment = harness::read_file(dir_.file("fragment.yaml"));
    const auto from = fragment.find("targets:");
    std::smatch m;
    EXPECT_TRUE(std::regex_search(fragment, m, std::regex("url: (\\S+)"))) << fragment;
    return {fragment.substr(from, fragment.find("sink:") - from), m.size() > 1 ? m[1].str() : ""};
  }

  static const json* resource(const json& d, const std::string& title) {
    for (const auto& r : d["schemaRegistry"]["resources"]) {
      if (r["title"] == title) {
        return &r;
      }
    }
    return nullptr;
  }

  TempDir dir_{"capillary-setup-test"};
  std::string mapping_routes_;  // routes put before the catalogue's in write_config
  std::string config_ = dir_.file("bridge.yaml");
  std::unique_ptr<emulator::Server> server_;
  std::string token_;
};

TEST_F(PlatformSetupTest, FromEmptyCreatesEverythingOnceAndTeardownRemovesIt) {
  const json before = dump();

  const Outcome dry = setup({"--dry-run"});
  ASSERT_EQ(dry.code, 0) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("15 to create, 0 to change, 0 conflict(s)"), std::string::npos) << dry.out;
  EXPECT_EQ(dump()["writes"], 0) << "a dry run writes nothing";

  const Outcome first = setup({"--output", dir_.file("fragment.yaml")});
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("15 created, 0 changed."), std::string::npos) << first.out;
  const json d = dump();
  EXPECT_EQ(d["identity"]["customNamespaces"].size(), 3U);
  const json* fg = resource(d, "capillary-bridge Capillary event fields");
  const json* profile = resource(d, "capillary-bridge Capillary profile");
  const json* events = resource(d, "capillary-bridge Capillary events");
  ASSERT_TRUE(fg != nullptr && profile != nullptr && events != nullptr) << d.dump();
  for (const json* s : {profile, events}) {
    EXPECT_EQ((*s)["meta:immutableTags"], json::array({"union"})) << (*s)["title"];
  }
  const auto& ext = (*events)["meta:extends"];
  EXPECT_NE(std::find(ext.begin(), ext.end(), (*fg)["$id"]), ext.end());
  // The field group declares exactly tenant-fields.json's fields.
  const json declaration = json::parse(
      harness::read_file(harness::source_dir() + "/transforms/capillary/tenant-fields.json"));
  const json& declared = (*fg)["definitions"]["capillary"]["properties"]["_acme"]["properties"]
                              ["capillary"]["properties"];
  EXPECT_EQ(declared.size(), declaration["experience_event"]["properties"].size());
  EXPECT_EQ(d["catalog"]["dataSets"].size(), 2U);
  for (const auto& [id, ds] : d["catalog"]["dataSets"].items()) {
    EXPECT_EQ(ds["tags"]["unifiedProfile"], json::array({"enabled:true"})) << id;
  }
  for (const auto& [kind, n] : {std::pair{"connections", 1U}, std::pair{"sourceConnections", 2U},
                                std::pair{"targetConnections", 2U}, std::pair{"flows", 2U}}) {
    EXPECT_EQ(d["flowService"][kind].size(), n) << kind;
  }

  // The fragment: the ids Platform gave, the inlet URL read back; the bridge accepts it.
  const std::string fragment = harness::read_file(dir_.file("fragment.yaml"));
  for (const auto& [id, ds] : d["catalog"]["dataSets"].items()) {
    EXPECT_NE(fragment.find("dataset_id: " + id), std::string::npos) << fragment;
  }
  EXPECT_NE(fragment.find("schema_ref: " + (*events)["$id"].get<std::string>()), std::string::npos);
  EXPECT_TRUE(
      std::regex_search(fragment, std::regex(server_->base_url() + "/collection/[0-9a-f]{64}")))
      << fragment;
  harness::write_file(dir_.file("merged.yaml"),
                      fmt::format("kafka:\n  brokers: 127.0.0.1:1\n  topics: [capillary.events]\n"
                                  "routes:\n  - transform: capillary\n    settings:\n"
                                  "      tenant: acme\n"
                                  "      targets: {{profile: profiles, experience_event: events}}\n"
                                  "{}"
                                  "    ims: {{token_url: \"{}/ims/token/v3\", client_id: x, "
                                  "client_secret: y}}\n  type: platform\n",
                                  fragment, server_->base_url()));
  const Outcome valid = bridge({"validate", "-c", dir_.file("merged.yaml")});
  EXPECT_EQ(valid.code, 0) << valid.out << valid.err
                           << harness::read_file(dir_.file("merged.yaml"));

  // A second run finds everything and writes nothing.
  const int writes = dump()["writes"];
  const Outcome second = setup();
  ASSERT_EQ(second.code, 0) << second.out << second.err;
  EXPECT_NE(second.out.find("0 to create, 0 to change"), std::string::npos) << second.out;
  EXPECT_EQ(dump()["writes"], writes);

  // Teardown: everything setup made is gone; namespaces stay (Platform cannot delete them).
  const Outcome refused = bridge({"platform", "teardown", "-c", config_});
  EXPECT_EQ(refused.code, 2) << "teardown without --yes";
  const Outcome down = teardown();
  ASSERT_EQ(down.code, 0) << down.out << down.err;
  EXPECT_NE(down.out.find("12 deleted"), std::string::npos) << down.out;
  json after = dump();
  json expected = before;
  for (json* j : {&after, &expected}) {
    j->erase("writes");
    (*j)["identity"].erase("customNamespaces");
  }
  EXPECT_EQ(after, expected);
}

TEST_F(PlatformSetupTest, AddsWhatIsMissingAndNeverChangesWhatItDidNotCreate) {
  ASSERT_EQ(setup().code, 0);
  // Someone removes a declared field from the group setup created: the next run puts it back.
  const json d = dump();
  remove_declared_field(d, "tillCode");
  const Outcome repair = setup();
  ASSERT_EQ(repair.code, 0) << repair.out << repair.err;
  EXPECT_NE(repair.out.find("differs  field group"), std::string::npos) << repair.out;
  EXPECT_NE(repair.out.find("will add 1 field(s): capillary.tillCode"), std::string::npos)
      << repair.out;
  EXPECT_NE(repair.out.find("0 created, 1 changed."), std::string::npos) << repair.out;
  const Outcome again = setup();
  EXPECT_NE(again.out.find("0 to create, 0 to change"), std::string::npos) << again.out;

  // An object of setup's names that someone else made and that does not fit: reported, not
  // touched, and nothing else is written either.
  ASSERT_EQ(teardown().code, 0);
  api("POST", "/data/foundation/schemaregistry/tenant/schemas",
      {{"title", "capillary-bridge Capillary events"},
       {"type", "object"},
       {"allOf", {{{"$ref", "https://ns.adobe.com/xdm/context/experienceevent"}}}}});
  const int writes = dump()["writes"];
  const Outcome conflict = setup();
  EXPECT_EQ(conflict.code, 2) << conflict.out << conflict.err;
  EXPECT_NE(conflict.out.find("conflict schema"), std::string::npos) << conflict.out;
  EXPECT_NE(conflict.err.find("never changes what it did not create"), std::string::npos)
      << conflict.err;
  EXPECT_EQ(dump()["writes"], writes);
}

TEST_F(PlatformSetupTest, WrongTenantOrInactiveSandboxStopsBeforeAnyWrite) {
  write_config("other", "prod", 5);
  const Outcome tenant = setup();
  EXPECT_EQ(tenant.code, 2);
  EXPECT_NE(tenant.err.find("writes tenant 'other' but this org's tenant id is 'acme'"),
            std::string::npos)
      << tenant.err;

  write_config("acme", "dev", 5);
  const Outcome missing = setup();
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("sandbox 'dev' does not exist"), std::string::npos) << missing.err;

  write_config("acme", "prod", 5);
  server_->set_sandbox_state("prod", "deleted");
  const Outcome deleted = setup();
  EXPECT_EQ(deleted.code, 2);
  EXPECT_NE(deleted.err.find("sandbox 'prod' is deleted"), std::string::npos) << deleted.err;
  EXPECT_EQ(dump()["writes"], 0);
}

TEST_F(PlatformSetupTest, ThrottledControlPlaneIsRetriedToCompletion) {
  write_config("acme", "prod", 12);
  emulator::Faults faults;
  faults.control_fail_rate = {{429, 0.3}, {503, 0.1}};
  faults.retry_after = "0";
  server_->set_faults(faults);
  const Outcome run = setup();
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("15 created, 0 changed."), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("HTTP 429 Too many requests (gateway 429050); retrying"),
            std::string::npos)
      << "no throttled call: " << run.err;
  server_->set_faults({});
  const Outcome second = setup();
  EXPECT_NE(second.out.find("0 to create, 0 to change"), std::string::npos)
      << "nothing was created twice: " << second.out;
  EXPECT_EQ(dump()["flowService"]["flows"].size(), 2U);
}

// Check over a deployment setup made: clean, then each broken state named with what to do.
TEST_F(PlatformSetupTest, CheckPassesOnWhatSetupMadeAndNamesEachBrokenState) {
  const auto [targets, inlet_url] = deploy();
  ASSERT_FALSE(inlet_url.empty());
  write_config("acme", "prod", 5, targets, inlet_url);
  const auto check = [&] { return bridge({"platform", "check", "-c", config_}); };
  const Outcome clean = check();
  ASSERT_EQ(clean.code, 0) << clean.out << clean.err;
  EXPECT_NE(clean.out.find("No problems."), std::string::npos) << clean.out;
  EXPECT_NE(clean.out.find("sample output(s) valid against the live schema"), std::string::npos)
      << clean.out;

  const auto expect_problem = [&](const std::string& what) {
    const Outcome broken = check();
    EXPECT_EQ(broken.code, 1) << what << "\n" << broken.out << broken.err;
    EXPECT_NE(broken.out.find(what), std::string::npos) << broken.out;
  };
  json d = dump();
  const auto dataset_named = [&](const std::string& name) {
    for (const auto& [id, ds] : d["catalog"]["dataSets"].items()) {
      if (ds["name"] == name) {
        return id;
      }
    }
    return std::string();
  };
  const std::string profiles = dataset_named("capillary-bridge profiles");
  const std::string events = dataset_named("capillary-bridge events");

  // A field the catalogue writes that the live schema does not declare.
  remove_declared_field(d, "tillCode");
  expect_problem(
      "the output of transactionAdded violates the schema at #/_acme/capillary: extraneous key "
      "[tillCode] is not permitted");
  ASSERT_EQ(setup().code, 0);  // setup puts it back

  // A standard field group taken out of the event schema: its fields are undeclared now.
  const json* schema = resource(d, "capillary-bridge Capillary events");
  ASSERT_NE(schema, nullptr);
  const auto& all_of = (*schema)["allOf"];
  const auto commerce =
      std::find(all_of.begin(), all_of.end(),
                json{{"$ref", "https://ns.adobe.com/xdm/context/experienceevent-commerce"}});
  ASSERT_NE(commerce, all_of.end()) << all_of;
  const std::string at = "/allOf/" + std::to_string(commerce - all_of.begin());
  const std::string schema_path = "/data/foundation/schemaregistry/tenant/schemas/" +
                                  (*schema)["meta:altId"].get<std::string>();
  api("PATCH", schema_path, json::array({{{"op", "remove"}, {"path", at}}}));
  expect_problem("violates the schema at #: extraneous key [commerce] is not permitted");
  api("PATCH", schema_path,
      json::array(
          {{{"op", "add"},
            {"path", at},
            {"value", {{"$ref", "https://ns.adobe.com/xdm/context/experienceevent-commerce"}}}}}));
  EXPECT_EQ(check().code, 0) << "the schema is whole again";

  // The profile target pointed at a dataset whose schema is not enabled for Profile.
  {
    const json plain = api("POST", "/data/foundation/schemaregistry/tenant/schemas",
                           {{"title", "someone's profile schema"},
                            {"type", "object"},
                            {"allOf",
                             {{{"$ref", "https://ns.adobe.com/xdm/context/profile"}},
                              {{"$ref", "https://ns.adobe.com/xdm/context/identitymap"}}}}});
    const std::string plain_id = plain["$id"];
    const json created =
        api("POST", "/data/foundation/catalog/dataSets",
            {{"name", "someone's profiles"},
             {"schemaRef",
              {{"id", plain_id}, {"contentType", "application/vnd.adobe.xed+json;version=1"}}}});
    const std::string plain_ds =
        created[0].get<std::string>().substr(std::string("@/dataSets/").size());
    const std::string profile_schema = (*resource(d, "capillary-bridge Capillary profile"))["$id"];
    std::string other = targets;
    other.replace(other.find(profiles), profiles.size(), plain_ds);
    other.replace(other.find(profile_schema), profile_schema.size(), plain_id);
    write_config("acme", "prod", 5, other, inlet_url);
    expect_problem("schema " + plain_id +
                   " receives profile records but is not enabled for Profile");
    write_config("acme", "prod", 5, targets, inlet_url);
  }

  // The profile dataset no longer enabled for Profile.
  api("PATCH", "/data/foundation/catalog/dataSets/" + profiles,
      {{"tags", {{"unifiedProfile", {"enabled:false"}}}}});
  expect_problem("receives profile records but is not enabled for Profile");
  api("PATCH", "/data/foundation/catalog/dataSets/" + profiles,
      {{"tags", {{"unifiedProfile", {"enabled:true"}}}}});

  // A disabled dataflow.
  const std::string flow = [&] {
    for (const auto& [id, f] : d["flowService"]["flows"].items()) {
      if (f["name"] == "capillary-bridge events flow") {
        return id;
      }
    }
    return std::string();
  }();
  const json current = api("GET", "/data/foundation/flowservice/flows/" + flow);
  const auto disable =
      raw("POST", "/data/foundation/flowservice/flows/" + flow + "/action?op=DISABLE", "",
          {"Authorization: Bearer " + token_, "x-api-key: capillary-bridge-dev",
           std::string("x-gw-ims-org-id: ") + kOrg, "x-sandbox-name: prod",
           "If-Match: " + current["items"][0]["etag"].get<std::string>()});
  ASSERT_EQ(disable.first, 200) << disable.second;
  expect_problem("dataflow " + flow + " is disabled");

  // The inlet's authentication differs from the config's.
  write_config("acme", "prod", 5, targets, inlet_url, false);
  expect_problem("the connection requires authentication but the config has authenticated: false");

  // A dataset that does not exist; a sandbox that does not exist.
  std::string gone = targets;
  gone.replace(gone.find(events), events.size(), "ffffffffffffffffffffffff");
  write_config("acme", "prod", 5, gone, inlet_url);
  expect_problem("dataset ffffffffffffffffffffffff does not exist");
  write_config("acme", "nope", 5, targets, inlet_url);
  expect_problem("sandbox 'nope' does not exist");

  // Check only reads.
  const int before = dump()["writes"];
  (void)check();
  EXPECT_EQ(dump()["writes"], before) << "check changed something";
}

// Streaming validation in the emulator: a message for a dataset setup created is validated against
// that dataset's schema as resolved; every golden output passes, a violation is a per-message 400
// carrying Platform's report, and the other messages of the batch are ingested.
TEST_F(PlatformSetupTest, StreamingValidatesEachMessageAgainstItsDatasetsSchema) {
  const auto [targets, inlet_url] = deploy();
  ASSERT_FALSE(inlet_url.empty());
  const json d = dump();
  std::map<std::string, std::string> dataset;  // dataset name -> id
  for (const auto& [id, ds] : d["catalog"]["dataSets"].items()) {
    dataset[ds["name"]] = id;
  }
  const std::string profile_schema = (*resource(d, "capillary-bridge Capillary profile"))["$id"];
  const std::string event_schema = (*resource(d, "capillary-bridge Capillary events"))["$id"];
  const auto retarget = [&](json m) {
    const bool event = m["body"]["xdmEntity"].contains("timestamp");
    const std::string& schema = event ? event_schema : profile_schema;
    m["header"]["schemaRef"]["id"] = schema;
    m["body"]["xdmMeta"]["schemaRef"]["id"] = schema;
    m["header"]["datasetId"] =
        dataset[event ? "capillary-bridge events" : "capillary-bridge profiles"];
    m["header"].erase("imsOrgId");
    return m;
  };
  json golden = json::array();
  std::string transaction;  // one transactionAdded output, to break
  for (const auto& dir :
       std::filesystem::directory_iterator(harness::source_dir() + "/tests/golden/capillary")) {
    std::istringstream lines(harness::read_file((dir.path() / "expected.jsonl").string()));
    std::string line;
    while (std::getline(lines, line)) {
      golden.push_back(retarget(json::parse(line)));
      if (dir.path().filename() == "transactionAdded" && transaction.empty()) {
        transaction = golden.back().dump();
      }
    }
  }
  ASSERT_GT(golden.size(), 100U);
  ASSERT_FALSE(transaction.empty());
  (void)api("GET", "/data/foundation/sandbox-management/sandboxes/prod");  // fetches a token
  const std::string batch_url =
      std::regex_replace(inlet_url, std::regex("/collection/"), "/collection/batch/")
          .substr(server_->base_url().size());
  const auto post = [&](const json& messages) {
    const auto r = raw("POST", batch_url, json{{"messages", messages}}.dump(),
                       {"Authorization: Bearer " + token_, "Content-Type: application/json"});
    EXPECT_EQ(r.first, 207) << r.second;
    return json::parse(r.second, nullptr, false)["responses"];
  };

  const json accepted = post(golden);
  ASSERT_EQ(accepted.size(), golden.size());
  for (std::size_t i = 0; i < accepted.size(); ++i) {
    EXPECT_TRUE(accepted[i].contains("xactionId")) << accepted[i] << "\n"
                                                   << golden[i]["body"]["xdmEntity"];
  }

  json wrong_type = json::parse(transaction);
  wrong_type["body"]["xdmEntity"]["commerce"]["order"]["priceTotal"] = "84.5";
  json undeclared = json::parse(transaction);
  undeclared["body"]["xdmEntity"]["_acme"]["capillary"]["storeColour"] = "blue";
  json wrong_schema = json::parse(transaction);
  wrong_schema["header"]["schemaRef"]["id"] = profile_schema;
  const json answers = post({wrong_type, json::parse(transaction), undeclared, wrong_schema});
  ASSERT_EQ(answers.size(), 4U);
  EXPECT_EQ(answers[0]["statusCode"], 400) << answers[0];
  const json cause = answers[0]["report"]["cause"]["_streamingValidation"][0];
  EXPECT_EQ(cause["message"], "1 schema violations found") << answers[0];
  EXPECT_EQ(cause["causingExceptions"][0]["pointerToViolation"], "#/commerce/order/priceTotal");
  EXPECT_EQ(cause["causingExceptions"][0]["keyword"], "type");
  EXPECT_TRUE(answers[1].contains("xactionId")) << answers[1];
  EXPECT_EQ(answers[2]["statusCode"], 400) << answers[2];
  EXPECT_NE(answers[2]["message"].get<std::string>().find(
                "#/_acme/capillary: extraneous key [storeColour] is not permitted"),
            std::string::npos)
      << answers[2];
  EXPECT_EQ(answers[3]["statusCode"], 400) << answers[3];
  EXPECT_NE(answers[3]["message"].get<std::string>().find("is not the schema of dataset"),
            std::string::npos)
      << answers[3];
}

// A mapping route's typed tenant fields are declared too: event fields in the events' group, and
// profile fields in a profile group setup adds only for them; check then holds the mapping's
// outputs of the shipped samples against the live schemas. A field whose type only the data
// knows stops setup with the line to fix.
TEST_F(PlatformSetupTest, DeclaresTheTenantFieldsOfMappingRoutes) {
  mapping_routes_ = R"(  - events: [streakLevelAchieved]
    transform: mapping
    settings:
      tenant: acme
      targets: {experience_event: events, profile: profiles}
      outputs:
        - kind: experience_event
          event_type: loyalty.streakLevelAchieved
          split: /streakData
          fields:
            - {to: $tenant.streaks.level, from: "@/streakLevelName", type: string}
            - {to: $tenant.streaks.value, from: "@/userCurrentStreakValue", type: integer}
            - {to: $tenant.streaks.reachedAt, from: "@/streakLevelAchievedDate", type: date-time}
            - {to: $tenant.capillary.streakBoard, value: main}
        - kind: profile
          fields:
            - {to: $tenant.streaks.lastStreakName, from: /streakData/0/streakName, type: string}
)";
  write_config("acme", "prod", 5);
  const Outcome first = setup({"--output", dir_.file("fragment.yaml")});
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("16 created, 0 changed."), std::string::npos) << first.out;
  const json d = dump();
  const json* events_group = resource(d, "capillary-bridge Capillary event fields");
  const json* profile_group = resource(d, "capillary-bridge Capillary profile fields");
  ASSERT_TRUE(events_group != nullptr && profile_group != nullptr) << first.out;
  const json& event_tenant = (*events_group)["definitions"]["capillary"]["properties"]["_acme"];
  EXPECT_EQ(event_tenant["properties"]["streaks"]["properties"]["value"]["type"], "integer");
  EXPECT_EQ(event_tenant["properties"]["streaks"]["properties"]["reachedAt"]["format"],
            "date-time");
  EXPECT_EQ(event_tenant["properties"]["capillary"]["properties"]["streakBoard"]["type"], "string");
  EXPECT_TRUE(event_tenant["properties"]["capillary"]["properties"].contains("tillCode"))
      << "the catalogue's fields are still there";
  EXPECT_EQ((*profile_group)["definitions"]["capillary"]["properties"]["_acme"]["properties"]
                            ["streaks"]["properties"]["lastStreakName"]["type"],
            "string");
  const json* profile = resource(d, "capillary-bridge Capillary profile");
  ASSERT_NE(profile, nullptr);
  const auto& ext = (*profile)["meta:extends"];
  EXPECT_NE(std::find(ext.begin(), ext.end(), (*profile_group)["$id"]), ext.end());

  const Outcome again = setup();
  EXPECT_NE(again.out.find("0 to create, 0 to change"), std::string::npos) << again.out;

  const auto [targets, inlet_url] = deploy();
  write_config("acme", "prod", 5, targets, inlet_url);
  const Outcome check = bridge({"platform", "check", "-c", config_});
  EXPECT_EQ(check.code, 0) << check.out << check.err;

  // Someone removes a mapping field from the group: check names it, setup puts it back.
  const std::string fg = (*events_group)["meta:altId"];
  api("PATCH", "/data/foundation/schemaregistry/tenant/fieldgroups/" + fg,
      json::array({{{"op", "remove"},
                    {"path",
                     "/definitions/capillary/properties/_acme/properties/streaks/"
                     "properties/reachedAt"}}}));
  const Outcome broken = bridge({"platform", "check", "-c", config_});
  EXPECT_EQ(broken.code, 1) << broken.out;
  EXPECT_NE(broken.out.find("the output of streakLevelAchieved violates the schema at "
                            "#/_acme/streaks: extraneous key [reachedAt] is not permitted"),
            std::string::npos)
      << broken.out;
  const Outcome repair = setup();
  EXPECT_NE(repair.out.find("will add 1 field(s): streaks.reachedAt"), std::string::npos)
      << repair.out;
  EXPECT_EQ(bridge({"platform", "check", "-c", config_}).code, 0);

  // A field typed by the data alone cannot be declared: setup stops before writing.
  mapping_routes_ += "            - {to: $tenant.streaks.raw, from: /streakData/0/streakId}\n";
  write_config("acme", "prod", 5);
  const int writes = dump()["writes"];
  const Outcome untyped = setup();
  EXPECT_EQ(untyped.code, 2) << untyped.out << untyped.err;
  EXPECT_NE(untyped.out.find("_acme.streaks.raw (profile output, mapping line"), std::string::npos)
      << untyped.out;
  EXPECT_NE(untyped.out.find("give it a `type:`"), std::string::npos) << untyped.out;
  EXPECT_EQ(dump()["writes"], writes);

  // Teardown takes the profile field group too.
  const Outcome down = teardown();
  ASSERT_EQ(down.code, 0) << down.out << down.err;
  EXPECT_EQ(dump()["schemaRegistry"]["resources"].size(), 0U) << dump()["schemaRegistry"];
}

// `run` with platform.check_at_start: fail stops before consuming when the deployment is broken;
// warn logs the problem and starts; a sound deployment starts either way.
TEST_F(PlatformSetupTest, RunChecksThePlatformAtStartWhenAsked) {
  const auto [targets, inlet_url] = deploy();
  ASSERT_FALSE(inlet_url.empty());
  std::string gone = targets;
  const auto at = gone.find("dataset_id: ") + 12;
  gone.replace(at, 24, "ffffffffffffffffffffffff");

  const auto start = [&](const std::string& log) {
    ChildOptions o;
    o.args = {harness::bridge_binary(), "run", "-c", config_};
    o.stderr_path = dir_.file(log);
    o.stdout_path = dir_.file(log + ".out");
    return std::make_unique<ChildProcess>(o);
  };
  write_config("acme", "prod", 5, gone, inlet_url, true, "fail");
  {
    auto run = start("fail.log");
    const auto st = run->wait(std::chrono::seconds(60));
    ASSERT_TRUE(st && st->exited) << harness::read_file(dir_.file("fail.log"));
    EXPECT_EQ(st->code, 2);
    const std::string log = harness::read_file(dir_.file("fail.log"));
    EXPECT_NE(log.find("dataset ffffffffffffffffffffffff does not exist"), std::string::npos)
        << log;
    EXPECT_NE(log.find("not starting"), std::string::npos) << log;
  }
  for (const auto& c :
       {std::tuple{"warn", gone, "starting anyway (platform.check_at_start: warn)"},
        std::tuple{"fail", targets, "is enabled, from the inlet into the dataset"}}) {
    const std::string mode = std::get<0>(c);
    const std::string& tgt = std::get<1>(c);
    const std::string expect = std::get<2>(c);
    write_config("acme", "prod", 5, tgt, inlet_url, true, mode);
    const std::string log_name = mode + (tgt == gone ? "-broken.log" : "-clean.log");
    auto run = start(log_name);
    const bool seen = harness::wait_until(
        [&] { return harness::read_file(dir_.file(log_name)).find(expect) != std::string::npos; },
        std::chrono::seconds(30));
    EXPECT_TRUE(seen) << mode << "\n" << harness::read_file(dir_.file(log_name));
    EXPECT_TRUE(run->running()) << "it must go on to start the service\n"
                                << harness::read_file(dir_.file(log_name));
    // It goes on to connect to a broker that is not there: the destructor SIGKILLs it.
  }
}

}  // namespace
}  // namespace bridge

// The Platform emulator over real HTTP (libcurl against an in-process Server on a free loopback
// port): IMS tokens and their expiry, DCS batch and single answers with per-message validation,
// the size limit, every injected fault (status, storm, latency, hang, reset, per-message), id
// counting, the control API, the NDJSON dump, and HTTPS with a self-signed certificate.
#include <curl/curl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bridge/emulator/control.h"
#include "bridge/emulator/server.h"
#include "tests/harness/process.h"
#include "tests/harness/tls.h"

namespace bridge::emulator {
namespace {

using harness::SelfSignedCert;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kOrg = "0123456789ABCDEF@AdobeOrg";

const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string content_type;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::chrono::milliseconds elapsed{0};
  long new_connections = 0;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::size_t collect_header(char* data, std::size_t size, std::size_t n, void* out) {
  const std::string_view line(data, size * n);
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (auto& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.remove_suffix(1);
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = std::string(value);
  }
  return size * n;
}

struct Call {
  std::string method;
  std::string url;
  std::string body;
  std::vector<std::string> headers;
  long timeout_ms = 5000;
};

// `handle` reuses a connection across calls when given; HTTPS trusts `ca_file` when given (else
// the system's CAs).
Reply http(const Call& call, CURL* handle = nullptr, const std::string& ca_file = {}) {
  Reply r;
  CURL* curl = handle != nullptr ? handle : curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  if (call.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  }
  curl_slist* list = nullptr;
  for (const auto& h : call.headers) {
    list = curl_slist_append(list, h.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, call.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  }
  const auto start = Clock::now();
  r.code = curl_easy_perform(curl);
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &r.new_connections);
  char* type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
  r.content_type = type != nullptr ? type : "";
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(list);
  if (handle == nullptr) {
    curl_easy_cleanup(curl);
  }
  return r;
}

Reply http(std::string method, std::string url, std::string body = {},
           std::vector<std::string> headers = {}, long timeout_ms = 5000) {
  return http(
      Call{std::move(method), std::move(url), std::move(body), std::move(headers), timeout_ms});
}

std::string header_json(std::string_view org = kOrg) {
  return fmt::format(
      R"({{"schemaRef":{{"id":"https://ns.adobe.com/tenant/schemas/s1","contentType":"application/vnd.adobe.xed-full+json;version=1"}},"imsOrgId":"{}","datasetId":"5f0c4f6a2b1e2d0011a1b2c3","flowId":"8d6a...","source":{{"name":"kafka-bridge"}}}})",
      org);
}

std::string message(std::string_view entity, std::string_view org = kOrg) {
  return fmt::format(R"({{"header":{},"body":{{"xdmEntity":{}}}}})", header_json(org), entity);
}

std::string batch(const std::vector<std::string>& messages) {
  std::string out = R"({"messages":[)";
  for (std::size_t i = 0; i < messages.size(); ++i) {
    out += (i == 0 ? "" : ",") + messages[i];
  }
  return out + "]}";
}

simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  return doc;
}

std::string text_at(simdjson::dom::element e, std::string_view pointer) {
  std::string_view s;
  return e.at_pointer(pointer).get_string().get(s) == simdjson::SUCCESS ? std::string(s)
                                                                        : "<absent>";
}

std::int64_t int_at(simdjson::dom::element e, std::string_view pointer) {
  std::int64_t v = -1;
  return e.at_pointer(pointer).get_int64().get(v) == simdjson::SUCCESS ? v : -1;
}

bool has(simdjson::dom::element e, std::string_view pointer) {
  return e.at_pointer(pointer).error() == simdjson::SUCCESS;
}

class EmulatorTest : public ::testing::Test {
 protected:
  void start(Options options = {}) {
    ASSERT_TRUE(curl_ready);
    options.ims_org_id = std::string(kOrg);
    const bool tls = !options.tls_cert_file.empty();
    if (options.seed == 0) {
      options.seed = 42;
    }
    auto started = Server::start(std::move(options));
    ASSERT_TRUE(started) << started.error().message;
    server_ = std::move(*started);
    ASSERT_GT(server_->port(), 0);
    ASSERT_EQ(server_->base_url(),
              fmt::format("{}://127.0.0.1:{}", tls ? "https" : "http", server_->port()));
  }
  void SetUp() override { start(); }

  std::string url(std::string_view path) const { return server_->base_url() + std::string(path); }

  Reply token_request(std::string_view form, std::string_view path = "/ims/token/v3") {
    return http("POST", url(path), std::string(form),
                {"Content-Type: application/x-www-form-urlencoded"});
  }

  std::string token() {
    const auto r = token_request(
        "grant_type=client_credentials&client_id=capillary-bridge-dev&client_secret=dev-secret"
        "&scope=openid,AdobeID,read_organizations");
    EXPECT_EQ(r.status, 200) << r.body;
    simdjson::dom::parser p;
    return text_at(parse(p, r.body), "/access_token");
  }

  Reply post_batch(const std::string& body, const std::string& bearer, long timeout_ms = 5000,
                   std::string_view inlet = "inlet-1") {
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (!bearer.empty()) {
      headers.push_back("Authorization: Bearer " + bearer);
    }
    return http(
        {"POST", url(fmt::format("/collection/batch/{}", inlet)), body, headers, timeout_ms});
  }

  Reply post_single(const std::string& body, const std::string& bearer) {
    return http("POST", url("/collection/inlet-1"), body,
                {"Content-Type: application/json", "Authorization: Bearer " + bearer});
  }

  // What every control-plane call carries (Platform's gateway headers).
  static std::vector<std::string> control_plane_headers(const std::string& bearer) {
    return {"Authorization: Bearer " + bearer,
            "x-api-key: capillary-bridge-dev",
            "x-gw-ims-org-id: " + std::string(kOrg),
            "x-sandbox-name: prod",
            "Content-Type: application/json",
            "Accept: application/vnd.adobe.xed+json; version=1"};
  }

  std::unique_ptr<Server> server_;
  simdjson::dom::parser parser_;
};

TEST_F(EmulatorTest, IssuesTokensAndRefusesBadCredentials) {
  const auto ok = token_request(
      "grant_type=client_credentials&client_id=capillary-bridge-dev&client_secret=dev-secret"
      "&scope=openid%2CAdobeID");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.content_type, "application/json");
  auto doc = parse(parser_, ok.body);
  EXPECT_EQ(text_at(doc, "/token_type"), "bearer");
  EXPECT_EQ(int_at(doc, "/expires_in"), 86399);
  EXPECT_GE(text_at(doc, "/access_token").size(), 32U);

  // The unversioned endpoint answers milliseconds; parameters may come as a query string.
  const auto legacy =
      http("POST", url("/ims/token?grant_type=client_credentials&client_id=capillary-bridge-dev"
                       "&client_secret=dev-secret"));
  ASSERT_EQ(legacy.status, 200) << legacy.body;
  EXPECT_EQ(int_at(parse(parser_, legacy.body), "/expires_in"), 86399000);

  const auto wrong_secret = token_request(
      "grant_type=client_credentials&client_id=capillary-bridge-dev&client_secret=hunter2");
  EXPECT_EQ(wrong_secret.status, 401);
  EXPECT_EQ(text_at(parse(parser_, wrong_secret.body), "/error"), "invalid_client");
  EXPECT_EQ(wrong_secret.body.find("hunter2"), std::string::npos) << "secret echoed";

  const auto wrong_id =
      token_request("grant_type=client_credentials&client_id=someone&client_secret=dev-secret");
  EXPECT_EQ(wrong_id.status, 401);
  EXPECT_EQ(text_at(parse(parser_, wrong_id.body), "/error_description"),
            "invalid client_id parameter");

  const auto wrong_grant = token_request(
      "grant_type=authorization_code&client_id=capillary-bridge-dev&client_secret=dev-secret");
  EXPECT_EQ(wrong_grant.status, 400);
  EXPECT_EQ(text_at(parse(parser_, wrong_grant.body), "/error"), "unsupported_grant_type");

  const auto stats = server_->stats();
  EXPECT_EQ(stats.tokens_issued, 2U);
  EXPECT_EQ(stats.token_requests_refused, 3U);
}

// Platform's control plane over HTTP: the gateway's headers, a $id in the path, the inlet URL
// pointing back at this emulator, injected 429s with the gateway's body, the control API.
TEST_F(EmulatorTest, ControlPlaneServesPlatformsApisOverHttp) {
  const std::string bearer = token();
  const std::vector<std::string> headers = control_plane_headers(bearer);
  const std::string registry = "/data/foundation/schemaregistry";
  const auto stats = http("GET", url(registry + "/stats"), {}, headers);
  ASSERT_EQ(stats.status, 200) << stats.body;
  EXPECT_EQ(text_at(parse(parser_, stats.body), "/tenantId"), "acme");
  const auto no_key =
      http("GET", url(registry + "/stats"), {}, {"Authorization: Bearer " + bearer});
  EXPECT_EQ(no_key.status, 403);
  EXPECT_EQ(text_at(parse(parser_, no_key.body), "/error_code"), "403000");
  const auto stale =
      http("GET", url(registry + "/stats"), {},
           {"Authorization: Bearer not-issued-here", "x-api-key: capillary-bridge-dev",
            "x-gw-ims-org-id: " + std::string(kOrg), "x-sandbox-name: prod"});
  EXPECT_EQ(stale.status, 401);

  const auto created = http(
      "POST", url(registry + "/tenant/schemas"),
      R"({"title":"p","type":"object","allOf":[{"$ref":"https://ns.adobe.com/xdm/context/profile"}]})",
      headers);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = text_at(parse(parser_, created.body), "/$id");
  // The $id, percent-encoded, addresses the schema like its altId does.
  char* escaped = curl_easy_escape(nullptr, id.c_str(), static_cast<int>(id.size()));
  const auto by_id = http("GET", url(registry + "/tenant/schemas/" + escaped), {}, headers);
  curl_free(escaped);
  EXPECT_EQ(by_id.status, 200) << by_id.body;

  const auto base = http(
      "POST", url("/data/foundation/flowservice/connections"),
      R"({"name":"inlet","connectionSpec":{"id":"bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb","version":"1.0"},)"
      R"("auth":{"specName":"Streaming Connection","params":{"dataType":"xdm","name":"inlet"}}})",
      headers);
  ASSERT_EQ(base.status, 201) << base.body;
  EXPECT_EQ(base.headers.count("location"), 1U);
  const auto got = http(
      "GET",
      url("/data/foundation/flowservice/connections/" + text_at(parse(parser_, base.body), "/id")),
      {}, headers);
  const auto doc = parse(parser_, got.body);
  EXPECT_EQ(text_at(doc, "/items/0/auth/params/inletUrl"),
            url("/collection/" + text_at(doc, "/items/0/auth/params/inletId")));

  // Injected control-plane 429s carry the gateway's body and Retry-After.
  Faults faults;
  faults.control_fail_rate = {{429, 1.0}};
  faults.retry_after = "3";
  server_->set_faults(faults);
  const auto throttled = http("GET", url(registry + "/stats"), {}, headers);
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(text_at(parse(parser_, throttled.body), "/error_code"), "429050");
  EXPECT_EQ(throttled.headers.at("retry-after"), "3");
  server_->set_faults({});

  // The control API: dump, a sandbox taken away, reset.
  const auto dump = http("GET", url("/emulator/control-plane"));
  ASSERT_EQ(dump.status, 200);
  EXPECT_NE(dump.body.find(id), std::string::npos);
  EXPECT_EQ(
      http("PUT", url("/emulator/control-plane/sandbox"), R"({"name":"prod","state":"deleted"})")
          .status,
      200);
  EXPECT_EQ(http("GET", url(registry + "/stats"), {}, headers).status, 403);
  EXPECT_EQ(http("POST", url("/emulator/control-plane/reset")).status, 200);
  EXPECT_EQ(http("GET", url(registry + "/stats"), {}, headers).status, 200);
  EXPECT_EQ(server_->control_plane_dump().find(id), std::string::npos);
}

// Streaming validation from several connections at once (this file runs under TSan): a dataset
// created through the control plane validates each message against its schema; valid ones are
// accepted, a violation is a 400 with Platform's report, on every thread.
TEST_F(EmulatorTest, ValidatesMessagesAgainstTheirDatasetsSchemaConcurrently) {
  const std::string bearer = token();
  const std::vector<std::string> headers = control_plane_headers(bearer);
  const auto schema = http("POST", url("/data/foundation/schemaregistry/tenant/schemas"),
                           R"({"title":"events","type":"object","allOf":[)"
                           R"({"$ref":"https://ns.adobe.com/xdm/context/experienceevent"},)"
                           R"({"$ref":"https://ns.adobe.com/xdm/context/identitymap"}]})",
                           headers);
  ASSERT_EQ(schema.status, 201) << schema.body;
  const std::string schema_id = text_at(parse(parser_, schema.body), "/$id");
  const auto dataset =
      http("POST", url("/data/foundation/catalog/dataSets"),
           fmt::format(R"({{"name":"events","schemaRef":{{"id":"{}","contentType":)"
                       R"("application/vnd.adobe.xed+json;version=1"}}}})",
                       schema_id),
           headers);
  ASSERT_EQ(dataset.status, 201) << dataset.body;
  const std::string ref = text_at(parse(parser_, dataset.body), "/0");
  const std::string dataset_id = ref.substr(ref.rfind('/') + 1);
  const auto event = [&](std::string_view entity) {
    return fmt::format(
        R"({{"header":{{"schemaRef":{{"id":"{}"}},"datasetId":"{}"}},"body":{{"xdmEntity":{}}}}})",
        schema_id, dataset_id, entity);
  };
  const std::string body = batch({
      event(R"({"_id":"a","timestamp":"2025-03-01T11:00:00Z","eventType":"x"})"),
      event(R"({"_id":"b","timestamp":"2025-03-01T11:00:00Z","colour":"red"})"),
      event(R"({"_id":"c","timestamp":42})"),
  });
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      simdjson::dom::parser parser;
      for (int i = 0; i < 10; ++i) {
        const auto r = post_batch(body, bearer);
        simdjson::dom::element doc;
        if (r.status != 207 || parser.parse(r.body).get(doc) != simdjson::SUCCESS ||
            !has(doc, "/responses/0/xactionId") || int_at(doc, "/responses/1/statusCode") != 400 ||
            text_at(doc,
                    "/responses/1/report/cause/_streamingValidation/0/causingExceptions/0/"
                    "message") != "extraneous key [colour] is not permitted" ||
            text_at(doc,
                    "/responses/2/report/cause/_streamingValidation/0/causingExceptions/0/"
                    "pointerToViolation") != "#/timestamp") {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  const auto one = post_batch(body, bearer);
  EXPECT_NE(one.body.find("1 schema violations found"), std::string::npos) << one.body;
}

TEST_F(EmulatorTest, CollectionNeedsAValidUnexpiredToken) {
  const std::string body = batch({message(R"({"_id":"e1"})")});

  const auto none = post_batch(body, "");
  EXPECT_EQ(none.status, 401);
  auto doc = parse(parser_, none.body);
  EXPECT_EQ(text_at(doc, "/type"),
            "https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization");
  EXPECT_EQ(text_at(doc, "/status"), "401");  // a string, like Platform's
  EXPECT_EQ(text_at(doc, "/report/message"), "[inlet-1] Ims service token is empty");

  const auto forged = post_batch(body, "not-a-token");
  EXPECT_EQ(forged.status, 401);
  EXPECT_EQ(text_at(parse(parser_, forged.body), "/report/message"),
            "[inlet-1] Ims service token is invalid or expired");

  const std::string day_token = token();
  EXPECT_EQ(post_batch(body, day_token).status, 207);

  server_->set_token_ttl(1s);
  const std::string short_token = token();
  const auto after_issue = Clock::now();  // the emulator's expiry is before this + 1 s
  EXPECT_EQ(post_batch(body, short_token).status, 207);
  // The scenario: the token's lifetime passes (the emulator has no clock to advance; it compares
  // its steady clock with the expiry, so at this point the token has expired).
  std::this_thread::sleep_until(after_issue + 1s);
  const auto expired = post_batch(body, short_token);
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(text_at(parse(parser_, expired.body), "/report/message"),
            "[inlet-1] Ims service token is invalid or expired");
  EXPECT_EQ(post_batch(body, day_token).status, 207);

  server_->expire_tokens();
  EXPECT_EQ(post_batch(body, day_token).status, 401);
  EXPECT_EQ(post_batch(body, token()).status, 207);

  const auto stats = server_->stats();
  EXPECT_EQ(stats.auth_failures, 4U);
  EXPECT_EQ(stats.by_status.at(401), 4U);
  EXPECT_EQ(stats.by_status.at(207), 4U);
  EXPECT_EQ(stats.requests, 8U);
}

TEST_F(EmulatorTest, ValidatesEachMessageByPosition) {
  const std::string spaced = message("{ \"_id\" : \"ok-2\",\n  \"n\" : [1, 2] }");
  const std::string body = batch({
      message(R"({"_id":"ok-1","person":{"name":"A"}})"),
      R"({"body":{"xdmEntity":{"_id":"x"}}})",                         // no header
      fmt::format(R"({{"header":{}}})", header_json()),                // header, no body
      fmt::format(R"({{"header":{},"body":{{}}}})", header_json()),    // body without xdmEntity
      message(R"({"_id":"n","person":{"name":null}})"),                // null
      message(R"({"_id":"e","tags":[]})"),                             // empty array
      message(R"({"_id":"s","a":{"b/c":""}})"),                        // empty string
      message(R"({"_id":"o","a":{}})"),                                // empty object
      message(R"({"_id":"org"})", "SOMEONE-ELSE@AdobeOrg"),            // wrong org
      R"({"header":{"datasetId":"d"},"body":{"xdmEntity":{"a":1}}})",  // no schemaRef.id
      R"({"header":{"schemaRef":{"id":"s"}},"body":{"xdmEntity":{"a":1}}})",  // no datasetId
      "42",
      spaced,
  });
  const auto r = post_batch(body, token());
  ASSERT_EQ(r.status, 207) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  auto doc = parse(parser_, r.body);
  EXPECT_EQ(text_at(doc, "/inletId"), "inlet-1");
  const std::string batch_id = text_at(doc, "/batchId");
  EXPECT_GT(int_at(doc, "/receivedTimeMs"), 0);
  simdjson::dom::array responses;
  ASSERT_EQ(doc["responses"].get_array().get(responses), simdjson::SUCCESS);
  ASSERT_EQ(responses.size(), 13U);

  EXPECT_EQ(text_at(doc, "/responses/0/xactionId"), batch_id + ":0");
  EXPECT_FALSE(has(doc, "/responses/0/statusCode"));
  const std::vector<std::pair<int, std::string>> expected = {
      {1, "The 'header' field is mandatory. Provide a valid 'header' value and try again."},
      {2, "Message has unknown xdm format"},
      {3, "Message has unknown xdm format"},
      {4, "Message has a null or empty value at /body/xdmEntity/person/name"},
      {5, "Message has a null or empty value at /body/xdmEntity/tags"},
      {6, "Message has a null or empty value at /body/xdmEntity/a/b~1c"},
      {7, "Message has a null or empty value at /body/xdmEntity/a"},
      {8, "Message has an absent or wrong ims org in the header"},
      {9,
       "The 'header.schemaRef.id' field is mandatory. Provide a valid 'header.schemaRef.id' value "
       "and try again."},
      {10,
       "The 'header.datasetId' field is mandatory. Provide a valid 'header.datasetId' value and "
       "try again."},
      {11, "Message has unknown xdm format"},
  };
  for (const auto& [index, reason] : expected) {
    EXPECT_EQ(int_at(doc, fmt::format("/responses/{}/statusCode", index)), 400) << index;
    EXPECT_EQ(text_at(doc, fmt::format("/responses/{}/message", index)), reason) << index;
    EXPECT_FALSE(has(doc, fmt::format("/responses/{}/xactionId", index))) << index;
  }
  EXPECT_EQ(text_at(doc, "/responses/12/xactionId"), batch_id + ":12");

  // Only accepted messages are kept, byte for byte.
  const auto kept = server_->accepted_messages();
  ASSERT_EQ(kept.size(), 2U);
  EXPECT_EQ(kept[0], message(R"({"_id":"ok-1","person":{"name":"A"}})"));
  EXPECT_EQ(kept[1], spaced);
  const auto stats = server_->stats();
  EXPECT_EQ(stats.messages_accepted, 2U);
  EXPECT_EQ(stats.messages_rejected, 11U);
  EXPECT_EQ(stats.unique_ids, 2U);
}

TEST_F(EmulatorTest, AbsentImsOrgIsFilledInNotRejected) {
  const std::string no_org = R"({"header":{"schemaRef":{"id":"s"},"datasetId":"d"},)"
                             R"("body":{"xdmEntity":{"_id":"x"}}})";
  const auto r = post_batch(batch({no_org}), token());
  ASSERT_EQ(r.status, 207);
  EXPECT_TRUE(has(parse(parser_, r.body), "/responses/0/xactionId")) << r.body;
}

TEST_F(EmulatorTest, RejectsBodiesThatAreNotBatches) {
  const std::string t = token();
  for (const std::string body :
       {"not json", R"({"messages":{}})", R"({"other":[]})", "[1,2]",
        R"({"messages":[{"a":1}]} trailing)", R"({"messages":[{"header":{"a":1,}}]})"}) {
    const auto r = post_batch(body, t);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(int_at(parse(parser_, r.body), "/status"), 400) << r.body;
  }
  EXPECT_EQ(server_->stats().messages_accepted, 0U);
}

TEST_F(EmulatorTest, SingleMessageEndpoint) {
  const std::string t = token();
  const auto ok = post_single(message(R"({"_id":"single-1"})"), t);
  ASSERT_EQ(ok.status, 200) << ok.body;
  auto doc = parse(parser_, ok.body);
  EXPECT_EQ(text_at(doc, "/inletId"), "inlet-1");
  EXPECT_NE(text_at(doc, "/xactionId"), "<absent>");
  EXPECT_GT(int_at(doc, "/receivedTimeMs"), 0);
  bool skipped = false;
  EXPECT_EQ(doc.at_pointer("/syncValidation/skipped").get(skipped), simdjson::SUCCESS);
  EXPECT_TRUE(skipped);

  const auto bad = post_single(message(R"({"_id":"single-2","x":null})"), t);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(text_at(parse(parser_, bad.body), "/report/message"),
            "[inlet-1] Message has a null or empty value at /body/xdmEntity/x");

  EXPECT_EQ(server_->accepted_messages(),
            std::vector<std::string>{message(R"({"_id":"single-1"})")});
}

TEST_F(EmulatorTest, RequestsOverTheLimitGet413) {
  Options options;
  options.max_request_bytes = 2000;
  start(options);
  const std::string t = token();
  const std::string base = batch({message(R"({"_id":"big","pad":"P"})")});
  const auto sized = [&](std::size_t n) {
    std::string body = base;
    body.replace(body.find("\"P\"") + 1, 1, std::string(n - base.size() + 1, 'x'));
    return body;
  };
  const auto at_limit = post_batch(sized(2000), t);
  EXPECT_EQ(at_limit.status, 207) << at_limit.body;
  const auto over = post_batch(sized(2001), t);
  EXPECT_EQ(over.status, 413);
  EXPECT_EQ(int_at(parse(parser_, over.body), "/status"), 413) << over.body;
  const auto stats = server_->stats();
  EXPECT_EQ(stats.max_request_bytes_seen, 2001U);
  EXPECT_EQ(stats.by_status.at(413), 1U);
  EXPECT_EQ(stats.messages_accepted, 1U);
}

TEST_F(EmulatorTest, ABodyLimitFaultLowersTheLimitUntilLifted) {
  const std::string t = token();
  const std::string body =
      batch({message(R"({"_id":"proxy","pad":")" + std::string(1000, 'x') + R"("})")});
  ASSERT_GT(body.size(), 1000U);
  ASSERT_EQ(http("PUT", url("/emulator/faults"), R"({"body_limit_bytes":1000})").status, 200);
  EXPECT_EQ(server_->faults().body_limit_bytes, 1000U);
  const auto limited = post_batch(body, t);
  EXPECT_EQ(limited.status, 413) << limited.body;
  EXPECT_NE(limited.body.find("limit of 1000 bytes"), std::string::npos) << limited.body;
  EXPECT_EQ(post_batch(batch({message(R"({"_id":"small"})")}), t).status, 207);
  EXPECT_EQ(http("PUT", url("/emulator/faults"), R"({"body_limit_bytes":-1})").status, 400);
  ASSERT_EQ(http("PUT", url("/emulator/faults"), "{}").status, 200);
  EXPECT_EQ(post_batch(body, t).status, 207);
  EXPECT_EQ(server_->stats().messages_accepted, 2U);
}

TEST_F(EmulatorTest, MessagesFromSkipsLinesAlreadyRead) {
  const std::string t = token();
  ASSERT_EQ(post_batch(batch({message(R"({"_id":"m0"})"), message(R"({"_id":"m1"})"),
                              message(R"({"_id":"m2"})")}),
                       t)
                .status,
            207);
  EXPECT_EQ(http("GET", url("/emulator/messages?from=0")).body,
            http("GET", url("/emulator/messages")).body);
  EXPECT_EQ(http("GET", url("/emulator/messages?from=2")).body, message(R"({"_id":"m2"})") + "\n");
  EXPECT_EQ(http("GET", url("/emulator/messages?from=3")).body, "");
  EXPECT_EQ(http("GET", url("/emulator/messages?from=9")).body, "");
  EXPECT_EQ(http("GET", url("/emulator/messages?from=x")).status, 400);
}

TEST_F(EmulatorTest, DefaultLimitIsOneMegabyte) {
  const std::string t = token();
  const std::string body(1048577, ' ');
  const auto r = post_batch(body, t);
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 413);
}

TEST_F(EmulatorTest, FailRateAnswersWithRetryAfter) {
  Faults f;
  f.fail_rate = {{503, 1.0}};
  f.retry_after = "2";
  server_->set_faults(f);
  const std::string t = token();
  for (int i = 0; i < 3; ++i) {
    const auto r = post_batch(batch({message(R"({"_id":"f"})")}), t);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.headers.at("retry-after"), "2");
    EXPECT_EQ(int_at(parse(parser_, r.body), "/status"), 503) << r.body;
  }
  // A fault comes before authentication, as a failing Platform front end would answer.
  EXPECT_EQ(post_batch(batch({}), "").status, 503);
  server_->set_faults({});
  EXPECT_EQ(post_batch(batch({message(R"({"_id":"f"})")}), t).status, 207);
  const auto stats = server_->stats();
  EXPECT_EQ(stats.by_status.at(503), 4U);
  EXPECT_EQ(stats.messages_accepted, 1U);
}

TEST_F(EmulatorTest, FailRateDrawsFollowTheRate) {
  Faults f;
  f.fail_rate = {{500, 0.5}};
  server_->set_faults(f);
  const std::string t = token();
  int failed = 0;
  for (int i = 0; i < 200; ++i) {
    failed += post_batch(batch({}), t).status == 500 ? 1 : 0;
  }
  EXPECT_GT(failed, 60);
  EXPECT_LT(failed, 140);
}

TEST_F(EmulatorTest, StormAnswers429UntilItEnds) {
  Faults f;
  f.storm = 400ms;
  f.retry_after = "3";
  server_->set_faults(f);
  EXPECT_GT(server_->faults().storm.count(), 0);
  const std::string t = token();
  const auto during = post_batch(batch({message(R"({"_id":"s"})")}), t);
  EXPECT_EQ(during.status, 429);
  EXPECT_EQ(during.headers.at("retry-after"), "3");
  EXPECT_TRUE(harness::wait_until([&] { return server_->faults().storm.count() == 0; }, 5s, 10ms))
      << "the 400 ms storm did not end";
  EXPECT_EQ(post_batch(batch({message(R"({"_id":"s"})")}), t).status, 207);

  f.retry_after.reset();
  server_->set_faults(f);
  const auto default_retry = post_batch(batch({}), t);
  EXPECT_EQ(default_retry.status, 429);
  EXPECT_EQ(default_retry.headers.at("retry-after"), "1");
}

TEST_F(EmulatorTest, LatencyDelaysAnswersButNotOtherConnections) {
  const std::string t = token();
  Faults f;
  f.latency = 300ms;
  server_->set_faults(f);
  const auto start = Clock::now();
  auto first = std::async(std::launch::async, [&] { return post_batch(batch({}), t); });
  auto second = std::async(std::launch::async, [&] { return post_batch(batch({}), t); });
  const auto a = first.get();
  const auto b = second.get();
  const auto total = Clock::now() - start;
  EXPECT_EQ(a.status, 207);
  EXPECT_EQ(b.status, 207);
  EXPECT_GE(a.elapsed, 300ms);
  EXPECT_GE(b.elapsed, 300ms);
  EXPECT_LT(total, 550ms) << "latency serialised the connections";
  // The control API is never delayed.
  EXPECT_LT(http("GET", url("/emulator/stats")).elapsed, 200ms);
}

TEST_F(EmulatorTest, HangHoldsUntilTheClientGivesUp) {
  const std::string t = token();
  Faults f;
  f.hang_rate = 1.0;
  server_->set_faults(f);
  const auto hung = post_batch(batch({}), t, 300);
  EXPECT_EQ(hung.code, CURLE_OPERATION_TIMEDOUT);
  EXPECT_GE(hung.elapsed, 290ms);
  EXPECT_EQ(server_->stats().hangs, 1U);

  // Another held request does not block a fresh connection once the fault is lifted.
  const Call call{
      "POST", url("/collection/batch/inlet-1"), batch({}), {"Authorization: Bearer " + t}, 20000};
  auto held = std::async(std::launch::async, [&call] { return http(call); });
  ASSERT_TRUE(harness::wait_until([&] { return server_->stats().hangs == 2; }, 5s, 10ms))
      << "the second request was never held";
  server_->set_faults({});
  EXPECT_EQ(post_batch(batch({}), t).status, 207);

  // Stopping releases the held request promptly.
  const auto stop_start = Clock::now();
  server_.reset();
  EXPECT_LT(Clock::now() - stop_start, 2s);
  const auto released = held.get();
  EXPECT_NE(released.code, CURLE_OK);
  EXPECT_LT(released.elapsed, 5s);
}

TEST_F(EmulatorTest, ResetSendsTcpRst) {
  const std::string t = token();
  Faults f;
  f.reset_rate = 1.0;
  server_->set_faults(f);
  const auto r = post_batch(batch({message(R"({"_id":"r"})")}), t);
  // RECV_ERROR is "Connection reset by peer"; a FIN would read as GOT_NOTHING instead.
  EXPECT_EQ(r.code, CURLE_RECV_ERROR) << curl_easy_strerror(r.code);
  const auto stats = server_->stats();
  EXPECT_EQ(stats.resets, 1U);
  EXPECT_EQ(stats.messages_accepted, 0U);
  EXPECT_TRUE(stats.by_status.empty());
}

TEST_F(EmulatorTest, PerMessageFailuresUseTheStatusShape) {
  const std::string t = token();
  Faults f;
  f.message_fail_rate = {{503, 1.0}};
  server_->set_faults(f);
  const auto r = post_batch(batch({message(R"({"_id":"m1"})"), message(R"({"_id":"m2","x":""})"),
                                   message(R"({"_id":"m3"})")}),
                            t);
  ASSERT_EQ(r.status, 207);
  auto doc = parse(parser_, r.body);
  for (const int i : {0, 2}) {
    EXPECT_EQ(int_at(doc, fmt::format("/responses/{}/status", i)), 503) << r.body;
    EXPECT_FALSE(has(doc, fmt::format("/responses/{}/xactionId", i)));
    EXPECT_FALSE(has(doc, fmt::format("/responses/{}/statusCode", i)));
    EXPECT_NE(text_at(doc, fmt::format("/responses/{}/message", i)), "<absent>");
  }
  EXPECT_EQ(int_at(doc, "/responses/1/statusCode"), 400);  // validation still wins

  f.message_fail_rate = {{400, 1.0}};
  server_->set_faults(f);
  const auto rejected = post_batch(batch({message(R"({"_id":"m4"})")}), t);
  EXPECT_EQ(int_at(parse(parser_, rejected.body), "/responses/0/status"), 400);

  const auto stats = server_->stats();
  EXPECT_EQ(stats.messages_failed_retryable, 2U);
  EXPECT_EQ(stats.messages_rejected, 2U);
  EXPECT_EQ(stats.messages_accepted, 0U);
  EXPECT_TRUE(server_->accepted_messages().empty());
}

TEST_F(EmulatorTest, CountsDistinctIdsAndRecordsWithoutOne) {
  const std::string t = token();
  std::vector<std::string> messages;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 5; ++i) {
      messages.push_back(message(fmt::format(R"({{"_id":"id-{}","n":{}}})", i, round)));
    }
  }
  messages.push_back(message(R"({"identityMap":{"ECID":[{"id":"1"}]}})"));
  messages.push_back(message(R"({"identityMap":{"ECID":[{"id":"2"}]}})"));
  EXPECT_EQ(post_batch(batch(messages), t).status, 207);
  // Ids across requests count too, and enough of them to grow the set.
  std::vector<std::string> more;
  for (int i = 0; i < 2000; ++i) {
    more.push_back(message(fmt::format(R"({{"_id":"id-{}"}})", i)));
  }
  EXPECT_EQ(post_batch(batch(more), t).status, 207);
  const auto stats = server_->stats();
  EXPECT_EQ(stats.messages_accepted, 2012U);
  EXPECT_EQ(stats.unique_ids, 2000U);
  EXPECT_EQ(stats.accepted_without_id, 2U);
}

TEST_F(EmulatorTest, KeepMessagesOffOnlyCounts) {
  Options options;
  options.keep_messages = false;
  options.require_auth = false;
  start(options);
  EXPECT_EQ(post_batch(batch({message(R"({"_id":"a"})"), message(R"({"_id":"a"})")}), "").status,
            207);
  EXPECT_TRUE(server_->accepted_messages().empty());
  const auto stats = server_->stats();
  EXPECT_EQ(stats.messages_accepted, 2U);
  EXPECT_EQ(stats.unique_ids, 1U);
}

TEST_F(EmulatorTest, ConnectionsAreKeptAlive) {
  const std::string t = token();
  CURL* handle = curl_easy_init();
  const Call call{"POST",
                  url("/collection/batch/inlet-1"),
                  batch({message(R"({"_id":"k"})")}),
                  {"Content-Type: application/json", "Authorization: Bearer " + t},
                  5000};
  const auto first = http(call, handle);
  const auto second = http(call, handle);
  curl_easy_cleanup(handle);
  EXPECT_EQ(first.status, 207);
  EXPECT_EQ(second.status, 207);
  EXPECT_EQ(first.new_connections, 1);
  EXPECT_EQ(second.new_connections, 0);
}

TEST_F(EmulatorTest, ControlApiRoundTrip) {
  EXPECT_EQ(http("GET", url("/healthz")).status, 200);
  EXPECT_EQ(http("GET", url("/nope")).status, 404);
  EXPECT_EQ(http("GET", url("/collection/batch/inlet-1")).status, 405);

  const auto put = http("PUT", url("/emulator/faults"),
                        R"({"fail_rate":{"503":0.25,"429":0.5},"retry_after":7,"latency_ms":5,)"
                        R"("hang_rate":0.125,"reset_rate":0.0625,"message_fail_rate":{"400":0.01},)"
                        R"("storm_ms":0})");
  ASSERT_EQ(put.status, 200) << put.body;
  const Faults f = server_->faults();
  EXPECT_EQ(f.fail_rate, (std::map<int, double>{{429, 0.5}, {503, 0.25}}));
  EXPECT_EQ(f.retry_after, "7");
  EXPECT_EQ(f.latency, 5ms);
  EXPECT_EQ(f.hang_rate, 0.125);
  EXPECT_EQ(f.reset_rate, 0.0625);
  EXPECT_EQ(f.message_fail_rate, (std::map<int, double>{{400, 0.01}}));
  const auto got = http("GET", url("/emulator/faults"));
  EXPECT_EQ(got.content_type, "application/json");
  auto faults_doc = parse(parser_, got.body);
  double rate = 0;
  EXPECT_EQ(faults_doc.at_pointer("/fail_rate/503").get(rate), simdjson::SUCCESS);
  EXPECT_EQ(rate, 0.25);
  EXPECT_EQ(text_at(faults_doc, "/retry_after"), "7");

  const auto invalid = http("POST", url("/emulator/faults"),
                            R"({"hang_rate":2,"colour":"red","fail_rate":{"x":1}})");
  EXPECT_EQ(invalid.status, 400);
  const std::string problem = text_at(parse(parser_, invalid.body), "/report/message");
  EXPECT_NE(problem.find("hang_rate"), std::string::npos) << problem;
  EXPECT_NE(problem.find("colour"), std::string::npos) << problem;
  EXPECT_NE(problem.find("'x'"), std::string::npos) << problem;
  EXPECT_EQ(server_->faults().hang_rate, 0.125) << "a rejected fault set must change nothing";
  EXPECT_EQ(http("PUT", url("/emulator/faults"), "not json").status, 400);

  // An empty object clears every fault.
  EXPECT_EQ(http("PUT", url("/emulator/faults"), "{}").status, 200);
  EXPECT_TRUE(server_->faults().fail_rate.empty());
  EXPECT_EQ(server_->faults().hang_rate, 0);

  EXPECT_EQ(http("PUT", url("/emulator/token_ttl"), R"({"seconds":10})").status, 200);
  const auto tok = token_request(
      "grant_type=client_credentials&client_id=capillary-bridge-dev&client_secret=dev-secret");
  const auto tok_doc = parse(parser_, tok.body);
  EXPECT_EQ(int_at(tok_doc, "/expires_in"), 10);
  const std::string t = text_at(tok_doc, "/access_token");
  EXPECT_EQ(http("PUT", url("/emulator/token_ttl"), R"({"seconds":-1})").status, 400);

  EXPECT_EQ(post_batch(batch({message(R"({"_id":"c1"})"), message(R"({"_id":"c2"})")}), t).status,
            207);
  const auto stats = http("GET", url("/emulator/stats"));
  auto stats_doc = parse(parser_, stats.body);
  EXPECT_EQ(int_at(stats_doc, "/requests"), 1);
  EXPECT_EQ(int_at(stats_doc, "/by_status/207"), 1);
  EXPECT_EQ(int_at(stats_doc, "/messages_accepted"), 2);
  EXPECT_EQ(int_at(stats_doc, "/unique_ids"), 2);
  EXPECT_EQ(int_at(stats_doc, "/tokens_issued"), 1);

  const auto lines = http("GET", url("/emulator/messages"));
  EXPECT_EQ(lines.content_type, "application/x-ndjson");
  EXPECT_EQ(lines.body, message(R"({"_id":"c1"})") + "\n" + message(R"({"_id":"c2"})") + "\n");

  EXPECT_EQ(http("POST", url("/emulator/tokens/expire")).status, 200);
  EXPECT_EQ(post_batch(batch({}), t).status, 401);

  EXPECT_EQ(http("POST", url("/emulator/clear")).status, 200);
  EXPECT_EQ(server_->stats().requests, 0U);
  EXPECT_EQ(server_->stats().unique_ids, 0U);
  EXPECT_TRUE(server_->accepted_messages().empty());
}

TEST_F(EmulatorTest, DumpsNdjsonOneMessagePerLine) {
  const std::string t = token();
  const std::string multi_line = message("{\n  \"_id\": \"d2\",\n  \"v\": \"a b\"\n}");
  ASSERT_EQ(post_batch(batch({message(R"({"_id":"d1"})"), multi_line}), t).status, 207);
  const std::string path = ::testing::TempDir() + "emulator_dump_test.ndjson";
  ASSERT_TRUE(server_->dump_ndjson(path));
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  std::remove(path.c_str());
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0], message(R"({"_id":"d1"})"));
  EXPECT_EQ(lines[1], message(R"({"_id":"d2","v":"a b"})"));  // minified, string untouched
  EXPECT_FALSE(server_->dump_ndjson("/nonexistent-dir/dump.ndjson"));
}

TEST_F(EmulatorTest, RefusesABadListenAddress) {
  Options options;
  options.listen = "127.0.0.1:notaport";
  EXPECT_FALSE(Server::start(options));
  options.listen = fmt::format("127.0.0.1:{}", server_->port());  // already taken
  EXPECT_FALSE(Server::start(options));
  options.listen = "127.0.0.1:0";
  options.faults.hang_rate = 1.5;
  EXPECT_FALSE(Server::start(options));
}

// Connections still on the server's port whose client has gone (CLOSE_WAIT): a held request that
// missed its client leaving.
int close_wait_on(std::uint16_t port) {
  int found = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      char local[64] = {};
      unsigned state = 0;
      if (std::sscanf(line.c_str(), " %*d: %63s %*s %x", local, &state) != 2) {
        continue;
      }
      const std::string_view address(local);
      const auto colon = address.rfind(':');
      unsigned local_port = 0;
      if (colon != std::string_view::npos &&
          std::sscanf(local + colon + 1, "%x", &local_port) == 1 && local_port == port &&
          state == 0x08) {
        ++found;
      }
    }
  }
  return found;
}

TEST_F(EmulatorTest, ServesHttpsWithTheGivenCertificate) {
  const SelfSignedCert cert;
  if (!cert.ok()) {
    GTEST_SKIP() << "openssl is not on PATH";
  }
  Options options;
  options.tls_cert_file = cert.cert;
  options.tls_key_file = cert.key;
  start(options);  // checks base_url() is https://127.0.0.1:<port>

  // Unknown issuer without the certificate; plain HTTP on the HTTPS port gets no answer.
  EXPECT_EQ(http("GET", url("/healthz")).code, CURLE_PEER_FAILED_VERIFICATION);
  EXPECT_NE(http("GET", fmt::format("http://127.0.0.1:{}/healthz", server_->port())).status, 200);

  const auto over_tls = [&](std::string method, std::string_view path, std::string body,
                            std::vector<std::string> headers = {}, long timeout_ms = 5000) {
    return http({std::move(method), url(path), std::move(body), std::move(headers), timeout_ms},
                nullptr, cert.cert);
  };
  const auto issued = over_tls(
      "POST", "/ims/token/v3",
      "grant_type=client_credentials&client_id=capillary-bridge-dev&client_secret=dev-secret",
      {"Content-Type: application/x-www-form-urlencoded"});
  ASSERT_EQ(issued.status, 200) << issued.body;
  const std::string bearer =
      "Authorization: Bearer " + text_at(parse(parser_, issued.body), "/access_token");
  const auto accepted =
      over_tls("POST", "/collection/batch/inlet-1", batch({message(R"({"_id":"tls-1"})")}),
               {"Content-Type: application/json", bearer});
  ASSERT_EQ(accepted.status, 207) << accepted.body;
  EXPECT_EQ(server_->stats().unique_ids, 1U);

  // A reset is still a reset under TLS; a hung request is let go once its client leaves, even
  // though a TLS client says goodbye (close_notify) before its FIN.
  Faults f;
  f.reset_rate = 1.0;
  server_->set_faults(f);
  const auto reset = over_tls("POST", "/collection/batch/inlet-1", batch({}), {bearer});
  EXPECT_EQ(reset.code, CURLE_RECV_ERROR) << curl_easy_strerror(reset.code);
  f.reset_rate = 0;
  f.hang_rate = 1.0;
  server_->set_faults(f);
  const auto hung = over_tls("POST", "/collection/batch/inlet-1", batch({}), {bearer}, 300);
  EXPECT_EQ(hung.code, CURLE_OPERATION_TIMEDOUT);
  EXPECT_TRUE(harness::wait_until([&] { return close_wait_on(server_->port()) == 0; }, 2s, 20ms))
      << "the held request outlived its client";
  const auto stats = server_->stats();
  EXPECT_EQ(stats.resets, 1U);
  EXPECT_EQ(stats.hangs, 1U);
}

TEST(EmulatorTls, RefusesMissingOrUnusableFilesWithoutQuotingThem) {
  const SelfSignedCert cert;
  if (!cert.ok()) {
    GTEST_SKIP() << "openssl is not on PATH";
  }
  Options options;
  options.tls_cert_file = cert.cert + ".missing";
  options.tls_key_file = cert.key;
  auto missing = Server::start(options);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(options.tls_cert_file), std::string::npos)
      << missing.error().message;

  options.tls_cert_file = cert.cert;
  options.tls_key_file = "";
  auto alone = Server::start(options);
  ASSERT_FALSE(alone);
  EXPECT_NE(alone.error().message.find("tls_key_file"), std::string::npos) << alone.error().message;

  // Swapped: both readable, neither what libmicrohttpd expects where it is.
  options.tls_cert_file = cert.key;
  options.tls_key_file = cert.cert;
  auto swapped = Server::start(options);
  ASSERT_FALSE(swapped);
  EXPECT_NE(swapped.error().message.find(cert.key), std::string::npos) << swapped.error().message;
  EXPECT_EQ(swapped.error().message.find("BEGIN"), std::string::npos) << swapped.error().message;
}

TEST(EmulatorFlags, StatusRateSyntax) {
  const auto ok = parse_status_rate("503=0.2");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->first, 503);
  EXPECT_EQ(ok->second, 0.2);
  for (const char* bad :
       {"503", "503=", "=0.2", "503=1.5", "99=0.1", "600=0.1", "503=0.2x", "abc=0.1", "503=-0.1"}) {
    EXPECT_FALSE(parse_status_rate(bad)) << bad;
  }
}

}  // namespace
}  // namespace bridge::emulator

// The pure parts of the Platform sink: status classification, Retry-After, response bodies and
// the rate limiter. No network, no clocks: every time point is injected.

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/platform/batch.h"
#include "bridge/platform/breaker.h"
#include "bridge/platform/classify.h"
#include "bridge/platform/queues.h"
#include "bridge/platform/rate_limiter.h"
#include "bridge/platform/response.h"
#include "bridge/platform/retry_after.h"

namespace bridge::platform {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr int kIntMin = std::numeric_limits<int>::min();
constexpr int kIntMax = std::numeric_limits<int>::max();
constexpr std::size_t kTenMegabytes = std::size_t{10} * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Classification

struct RequestCase {
  Transport transport;
  int status;
  Action action;
  std::string_view reason;
};

struct MessageCase {
  int status;
  bool has_xaction_id;
  Action action;
  std::string_view reason;
};

// The first rule of `rules` matching `status`, as an index.
std::size_t first_rule(std::span<const Rule> rules, int status) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (status >= rules[i].status_from && status <= rules[i].status_to) {
      return i;
    }
  }
  return rules.size();
}

// Fails when a rule is never the first match of any case: an untested or shadowed row.
void expect_every_rule_exercised(std::span<const Rule> rules, const std::vector<int>& statuses,
                                 std::string_view table) {
  std::vector<bool> hit(rules.size(), false);
  for (int status : statuses) {
    const std::size_t i = first_rule(rules, status);
    if (i < rules.size()) {
      hit[i] = true;
    }
  }
  for (std::size_t i = 0; i < rules.size(); ++i) {
    EXPECT_TRUE(hit[i]) << table << " rule " << i << " [" << rules[i].status_from << ", "
                        << rules[i].status_to << "] " << rules[i].why
                        << " is shadowed or has no case";
    EXPECT_FALSE(rules[i].why.empty()) << table << " rule " << i;
    EXPECT_TRUE(rules[i].reason.starts_with("platform-")) << table << " rule " << i;
  }
  // The last row must catch everything, so no status falls off the end of the table.
  ASSERT_FALSE(rules.empty());
  EXPECT_EQ(rules.back().status_from, kIntMin) << table;
  EXPECT_EQ(rules.back().status_to, kIntMax) << table;
}

TEST(Classify, OneTableForEveryPlatformAnswer) {
  const auto ok = Transport::ok;
  const RequestCase request_cases[] = {
      {ok, 200, Action::accept, "platform-accepted"},
      {ok, 201, Action::accept, "platform-accepted"},
      {ok, 202, Action::accept, "platform-accepted"},
      {ok, 203, Action::retry, "platform-unexpected-status"},
      {ok, 204, Action::accept, "platform-accepted"},
      {ok, 205, Action::retry, "platform-unexpected-status"},
      {ok, 206, Action::retry, "platform-unexpected-status"},
      {ok, 207, Action::accept, "platform-accepted"},
      {ok, 208, Action::retry, "platform-unexpected-status"},
      {ok, 299, Action::retry, "platform-unexpected-status"},
      {ok, 100, Action::retry, "platform-unexpected-status"},
      {ok, 199, Action::retry, "platform-unexpected-status"},
      {ok, 300, Action::retry, "platform-unexpected-status"},
      {ok, 301, Action::retry, "platform-unexpected-status"},
      {ok, 302, Action::retry, "platform-unexpected-status"},
      {ok, 399, Action::retry, "platform-unexpected-status"},
      {ok, 400, Action::reject, "platform-rejected"},
      {ok, 401, Action::reauth, "platform-auth"},
      {ok, 402, Action::reject, "platform-rejected"},
      {ok, 403, Action::reauth, "platform-auth"},
      {ok, 404, Action::reject, "platform-not-found"},
      {ok, 405, Action::reject, "platform-rejected"},
      {ok, 408, Action::retry, "platform-timeout"},
      {ok, 409, Action::reject, "platform-rejected"},
      {ok, 410, Action::reject, "platform-rejected"},
      {ok, 413, Action::split, "platform-too-large"},
      {ok, 422, Action::reject, "platform-rejected"},
      {ok, 429, Action::retry, "platform-throttled"},
      {ok, 499, Action::reject, "platform-rejected"},
      {ok, 500, Action::retry, "platform-unavailable"},
      {ok, 501, Action::reject, "platform-rejected"},
      {ok, 502, Action::retry, "platform-unavailable"},
      {ok, 503, Action::retry, "platform-unavailable"},
      {ok, 504, Action::retry, "platform-unavailable"},
      {ok, 505, Action::retry, "platform-unavailable"},
      {ok, 599, Action::retry, "platform-unavailable"},
      {ok, 600, Action::retry, "platform-unexpected-status"},
      {ok, 0, Action::retry, "platform-unexpected-status"},
      {ok, -1, Action::retry, "platform-unexpected-status"},
      {ok, kIntMin, Action::retry, "platform-unexpected-status"},
      {ok, kIntMax, Action::retry, "platform-unexpected-status"},
      // A transport failure decides on its own: curl reports no status, or a stale one.
      {Transport::timeout, 0, Action::retry, "platform-timeout"},
      {Transport::timeout, 200, Action::retry, "platform-timeout"},
      {Transport::connection, 0, Action::retry, "platform-connection"},
      {Transport::connection, 400, Action::retry, "platform-connection"},
      {Transport::tls, 0, Action::retry, "platform-tls"},
      {Transport::tls, 400, Action::retry, "platform-tls"},
  };
  std::vector<int> request_statuses;
  for (const RequestCase& c : request_cases) {
    const Classification got = classify_request(c.transport, c.status);
    EXPECT_EQ(got.action, c.action)
        << "request status " << c.status << " transport " << static_cast<int>(c.transport)
        << ": got " << to_string(got.action);
    EXPECT_EQ(got.reason, c.reason) << "request status " << c.status;
    if (c.transport == ok) {
      request_statuses.push_back(c.status);
    }
  }
  expect_every_rule_exercised(request_rules(), request_statuses, "request");

  const MessageCase message_cases[] = {
      {0, true, Action::accept, "platform-accepted"},
      {0, false, Action::retry, "platform-bad-response"},
      {200, false, Action::accept, "platform-accepted"},
      {201, true, Action::accept, "platform-accepted"},
      {299, false, Action::accept, "platform-accepted"},
      {199, false, Action::retry, "platform-unexpected-status"},
      {300, true, Action::retry, "platform-unexpected-status"},
      {399, false, Action::retry, "platform-unexpected-status"},
      {400, false, Action::reject, "platform-rejected"},
      // Adobe's connector fixture: a failure that also carries an xactionId. The status wins.
      {400, true, Action::reject, "platform-rejected"},
      {401, false, Action::retry, "platform-auth"},
      {403, true, Action::retry, "platform-auth"},
      {404, false, Action::reject, "platform-rejected"},
      {408, false, Action::reject, "platform-rejected"},
      {413, false, Action::reject, "platform-too-large"},
      {422, false, Action::reject, "platform-rejected"},
      {429, false, Action::retry, "platform-throttled"},
      {499, false, Action::reject, "platform-rejected"},
      {500, false, Action::retry, "platform-unavailable"},
      {501, false, Action::retry, "platform-unavailable"},
      {503, true, Action::retry, "platform-unavailable"},
      {599, false, Action::retry, "platform-unavailable"},
      {600, false, Action::retry, "platform-unexpected-status"},
      // parse_batch_response's "status present but not a status".
      {-1, true, Action::retry, "platform-unexpected-status"},
      {kIntMin, false, Action::retry, "platform-unexpected-status"},
      {kIntMax, true, Action::retry, "platform-unexpected-status"},
  };
  std::vector<int> message_statuses;
  for (const MessageCase& c : message_cases) {
    const Classification got = classify_message(c.status, c.has_xaction_id);
    EXPECT_EQ(got.action, c.action) << "message status " << c.status << " xactionId "
                                    << c.has_xaction_id << ": got " << to_string(got.action);
    EXPECT_EQ(got.reason, c.reason) << "message status " << c.status;
    if (c.status != 0) {
      message_statuses.push_back(c.status);
    }
  }
  expect_every_rule_exercised(message_rules(), message_statuses, "message");
}

TEST(Classify, ActionNames) {
  EXPECT_EQ(to_string(Action::accept), "accept");
  EXPECT_EQ(to_string(Action::reject), "reject");
  EXPECT_EQ(to_string(Action::retry), "retry");
  EXPECT_EQ(to_string(Action::split), "split");
  EXPECT_EQ(to_string(Action::reauth), "reauth");
}

// ---------------------------------------------------------------------------------------------
// Retry-After

// Sun, 06 Nov 1994 08:49:37 GMT, the RFC 9110 example date.
constexpr std::chrono::sys_seconds kExampleDate{784111777s};
constexpr milliseconds kCap = 300s;

std::optional<milliseconds> retry_after(std::string_view value,
                                        std::chrono::system_clock::time_point now = kExampleDate,
                                        milliseconds cap = kCap) {
  return parse_retry_after(value, now, cap);
}

TEST(RetryAfter, DeltaSeconds) {
  EXPECT_EQ(retry_after("120"), milliseconds{120s});
  EXPECT_EQ(retry_after("0"), milliseconds{0});
  EXPECT_EQ(retry_after(" \t120 \t"), milliseconds{120s}) << "optional whitespace";
  EXPECT_EQ(retry_after("007"), milliseconds{7s});
  EXPECT_EQ(retry_after("1.5"), 1500ms);
  EXPECT_EQ(retry_after(".5"), 500ms);
  EXPECT_EQ(retry_after("2."), 2000ms);
  EXPECT_EQ(retry_after("0.0001"), 1ms) << "rounded up: never retry earlier than asked";
}

TEST(RetryAfter, Unparseable) {
  for (const std::string_view value :
       {"", "   ", "-5", "-0.5", "+5", "soon", "12abc", "12 34", "1e3", "1.2.3", ".", "inf", "nan",
        "0x10", "Monday", "Sun, 32 Nov 1994 08:49:37 GMT"}) {
    EXPECT_EQ(retry_after(value), std::nullopt) << '"' << value << '"';
  }
}

TEST(RetryAfter, ClampedToTheCapWithoutOverflow) {
  EXPECT_EQ(retry_after("300"), kCap);
  EXPECT_EQ(retry_after("301"), kCap);
  EXPECT_EQ(retry_after("299.9999"), 300000ms);
  EXPECT_EQ(retry_after("9223372036854775807"), kCap) << "INT64_MAX seconds";
  EXPECT_EQ(retry_after("99999999999999999999999999999999"), kCap);
  EXPECT_EQ(retry_after("1" + std::string(400, '0')), kCap) << "beyond double range";
  EXPECT_EQ(retry_after("120", kExampleDate, 0ms), 0ms);
  EXPECT_EQ(retry_after("Fri, 31 Dec 9999 23:59:59 GMT"), kCap);
}

TEST(RetryAfter, HttpDateForms) {
  const auto now = kExampleDate - 60s;
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), milliseconds{60s}) << "IMF-fixdate";
  EXPECT_EQ(retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), milliseconds{60s}) << "RFC 850";
  EXPECT_EQ(retry_after("Sun Nov  6 08:49:37 1994", now), milliseconds{60s}) << "asctime";
  EXPECT_EQ(retry_after("  Sun, 06 Nov 1994 08:49:37 GMT ", now), milliseconds{60s});
  // `now` between whole seconds: the delay is rounded up to the next millisecond.
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kExampleDate - 1500ms - 1ns), 1501ms);
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kExampleDate - 1h), kCap);
}

TEST(RetryAfter, PastDatesMeanNow) {
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kExampleDate), 0ms);
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kExampleDate + 500ms), 0ms);
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:49:36 GMT", kExampleDate), 0ms);
  EXPECT_EQ(retry_after("Wed, 21 Oct 2015 07:28:00 GMT", kExampleDate + 24h * 365 * 30), 0ms);
}

// ---------------------------------------------------------------------------------------------
// Response bodies (reference/platform-streaming.md section 1.8)

TEST(BatchResponse, DocumentedMultiStatus) {
  const auto parsed = parse_batch_response(R"({
    "inletId": "9b0c...f5", "batchId": "1565638336649:1750:244", "receivedTimeMs": 1565638336705,
    "responses": [ {"xactionId": "1565650704337:2124:92:3"},
                   {"statusCode": 400, "message": "inletId: [...] imsOrgId: [...] Message has unknown xdm format"} ] })");
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->batch_id, "1565638336649:1750:244");
  ASSERT_EQ(parsed->responses.size(), 2U);
  EXPECT_EQ(parsed->responses[0].status, 0);
  EXPECT_TRUE(parsed->responses[0].has_xaction_id);
  EXPECT_EQ(parsed->responses[0].message, "");
  EXPECT_EQ(parsed->responses[1].status, 400);
  EXPECT_FALSE(parsed->responses[1].has_xaction_id);
  EXPECT_EQ(parsed->responses[1].message,
            "inletId: [...] imsOrgId: [...] Message has unknown xdm format");
  EXPECT_EQ(
      classify_message(parsed->responses[0].status, parsed->responses[0].has_xaction_id).action,
      Action::accept);
  EXPECT_EQ(
      classify_message(parsed->responses[1].status, parsed->responses[1].has_xaction_id).action,
      Action::reject);
}

TEST(BatchResponse, StatusKeyedWithoutXactionId) {
  // K-ISS #62, a 2024 production log.
  const auto parsed = parse_batch_response(
      R"({"responses":[{"status":400,"message":"The 'header' field is mandatory. Provide a valid 'header' value and try again."}]})");
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->batch_id, "");
  ASSERT_EQ(parsed->responses.size(), 1U);
  EXPECT_EQ(parsed->responses[0].status, 400);
  EXPECT_FALSE(parsed->responses[0].has_xaction_id);
  EXPECT_EQ(parsed->responses[0].message,
            "The 'header' field is mandatory. Provide a valid 'header' value and try again.");
}

TEST(BatchResponse, ConnectorFixtureUuidXactionIds) {
  // Adobe's streaming-connect-sink aep-connector-inlet-multi-message-response.json.
  const auto parsed = parse_batch_response(R"({
  "inletId": "9b0cb233972f3b0092992284c7353f5eead496218e8441a79b25e9421ea127f5",
  "batchId": "1565638336649:1750:244",
  "receivedTimeMs": 1565638336705,
  "responses": [
    {
      "xactionId":"9341f8eb-494a-4c89-9879-4d06a58d2dc7-0",
      "status":400,
      "message":"The 'header' field is mandatory. Provide a valid 'header' value and try again."
    },
    {
      "xactionId": "9341f8eb-494a-4c89-9879-4d06a58d2dc7-1"
    }
  ]
})");
  ASSERT_TRUE(parsed) << parsed.error();
  ASSERT_EQ(parsed->responses.size(), 2U);
  EXPECT_EQ(parsed->responses[0].status, 400);
  EXPECT_TRUE(parsed->responses[0].has_xaction_id);
  EXPECT_EQ(
      classify_message(parsed->responses[0].status, parsed->responses[0].has_xaction_id).action,
      Action::reject)
      << "a failure with an xactionId is still a failure";
  EXPECT_EQ(parsed->responses[1].status, 0);
  EXPECT_TRUE(parsed->responses[1].has_xaction_id);
}

TEST(BatchResponse, StatusSpellings) {
  const auto parsed = parse_batch_response(R"({"responses":[
    {"status":"400","message":"string status, as in the 401 problem body"},
    {"statusCode":429.0},
    {"statusCode":503,"status":400},
    {"status":"abc","xactionId":"x"},
    {"status":true,"xactionId":"x"},
    {"status":null,"xactionId":"x"},
    {"status":0,"xactionId":"x"},
    {"status":-400},
    {"status":"-400"},
    {"status":"400 "},
    {"status":4.5},
    {"status":18446744073709551615},
    {"status":99999999999},
    {"xactionId":null},
    {"xactionId":""}
  ]})");
  ASSERT_TRUE(parsed) << parsed.error();
  const std::vector<int> expected_status = {400, 429, 503, -1, -1, -1, -1, -1,
                                            -1,  -1,  -1,  -1, -1, 0,  0};
  ASSERT_EQ(parsed->responses.size(), expected_status.size());
  for (std::size_t i = 0; i < expected_status.size(); ++i) {
    EXPECT_EQ(parsed->responses[i].status, expected_status[i]) << "element " << i;
  }
  EXPECT_EQ(parsed->responses[0].message, "string status, as in the 401 problem body");
  // A status that is present but unreadable must never turn into an accept via the xactionId.
  EXPECT_EQ(
      classify_message(parsed->responses[3].status, parsed->responses[3].has_xaction_id).action,
      Action::retry);
  EXPECT_FALSE(parsed->responses[13].has_xaction_id) << "null xactionId";
  EXPECT_TRUE(parsed->responses[14].has_xaction_id) << "present, even if empty";
}

TEST(BatchResponse, ElementsThatAreNotObjectsKeepTheirPosition) {
  const auto parsed = parse_batch_response(R"({"responses":[42,{"xactionId":"a"},"x",null,[]]})");
  ASSERT_TRUE(parsed) << parsed.error();
  ASSERT_EQ(parsed->responses.size(), 5U);
  EXPECT_TRUE(parsed->responses[1].has_xaction_id);
  for (const std::size_t i : {0U, 2U, 3U, 4U}) {
    EXPECT_EQ(parsed->responses[i].status, 0) << i;
    EXPECT_FALSE(parsed->responses[i].has_xaction_id) << i;
  }
}

TEST(BatchResponse, ShorterThanTheRequest) {
  // Three messages sent, one answer: the parser reports what is there; the sink treats the
  // missing positions as unknown fate.
  const auto parsed = parse_batch_response(R"({"responses":[{"xactionId":"a"}]})");
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->responses.size(), 1U);
  const auto empty = parse_batch_response(R"({"responses":[]})");
  ASSERT_TRUE(empty) << empty.error();
  EXPECT_TRUE(empty->responses.empty());
}

TEST(BatchResponse, NotABatchBody) {
  for (const std::string_view body : {
           std::string_view{""},
           std::string_view{"not json"},
           std::string_view{"<html><body><h1>502 Bad Gateway</h1></body></html>"},
           std::string_view{R"({"responses":[{"xactionId":"a"})"},  // truncated
           std::string_view{R"([{"xactionId":"a"}])"},
           std::string_view{R"({"responses":{"xactionId":"a"}})"},
           std::string_view{R"({"responses":null})"},
           std::string_view{R"({"batchId":"1"})"},
           std::string_view{R"("responses")"},
       }) {
    const auto parsed = parse_batch_response(body);
    ASSERT_FALSE(parsed) << body;
    EXPECT_FALSE(parsed.error().empty()) << body;
  }
  // The 401 problem body (status as a string) is not a batch answer either.
  EXPECT_FALSE(parse_batch_response(
      R"({"type":"https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization","status":"401","title":"Authorization","report":{"message":"[id] Ims service token is empty"}})"));
}

TEST(BatchResponse, HugeMessagesAreTruncatedAndCleaned) {
  std::string body = R"({"responses":[{"status":400,"message":")";
  body.append(kTenMegabytes, 'x');
  body += R"("},{"status":400,"message":"line one\nline two\ttab\u0000nul\u007f"}]})";
  const auto parsed = parse_batch_response(body);
  ASSERT_TRUE(parsed) << parsed.error();
  ASSERT_EQ(parsed->responses.size(), 2U);
  EXPECT_EQ(parsed->responses[0].message, std::string(kMaxMessageBytes, 'x'));
  EXPECT_EQ(parsed->responses[1].message, "line one line two tab nul ");
}

TEST(BatchResponse, TruncationKeepsUtf8Whole) {
  // 511 ASCII bytes then a 2-byte character straddling the 512-byte limit: drop it whole.
  std::string body = R"({"responses":[{"status":400,"message":")";
  body.append(kMaxMessageBytes - 1, 'a');
  body += "\xC3\xA9 and more\"}]}";
  const auto parsed = parse_batch_response(body);
  ASSERT_TRUE(parsed) << parsed.error();
  ASSERT_EQ(parsed->responses.size(), 1U);
  EXPECT_EQ(parsed->responses[0].message, std::string(kMaxMessageBytes - 1, 'a'));
  // The same character fitting exactly is kept.
  std::string fits = R"({"responses":[{"status":400,"message":")";
  fits.append(kMaxMessageBytes - 2, 'a');
  fits += "\xC3\xA9 and more\"}]}";
  const auto kept = parse_batch_response(fits);
  ASSERT_TRUE(kept) << kept.error();
  EXPECT_EQ(kept->responses[0].message, std::string(kMaxMessageBytes - 2, 'a') + "\xC3\xA9");
}

TEST(ErrorMessage, PreferenceOrder) {
  // 401 problem body from the reference, status as a string.
  EXPECT_EQ(
      error_message(
          R"({"type":"https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization","status":"401","title":"Authorization","report":{"message":"[id] Ims service token is empty"}})"),
      "[id] Ims service token is empty");
  // 400 sync-validation problem body: report.message before title.
  EXPECT_EQ(
      error_message(
          R"({"type":"http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet","status":400,"title":"Invalid XDM Message Format","report":{"message":"inletId: [abc] imsOrgId: [def] Message is invalid","cause":{"_streamingValidation":[{"message":"1 schema violations found"}]}}})"),
      "inletId: [abc] imsOrgId: [def] Message is invalid");
  EXPECT_EQ(error_message(R"({"message":"m","title":"t","detail":"d"})"), "m");
  EXPECT_EQ(error_message(R"({"report":{"message":""},"message":"m"})"), "m");
  EXPECT_EQ(error_message(R"({"report":{"message":7},"title":"t"})"), "t");
  EXPECT_EQ(error_message(R"({"report":"r","title":"t","detail":"d"})"), "t");
  EXPECT_EQ(error_message(R"({"message":null,"detail":"d","error":"e"})"), "d");
  // IMS token errors.
  EXPECT_EQ(error_message(
                R"({"error":"invalid_client","error_description":"invalid client_id parameter"})"),
            "invalid client_id parameter");
  EXPECT_EQ(error_message(R"({"error":"invalid_scope"})"), "invalid_scope");
  EXPECT_EQ(error_message(R"({"error":{"message":"nested"}})"), "");
}

TEST(ErrorMessage, NothingUsable) {
  for (const std::string_view body :
       {std::string_view{""}, std::string_view{"Service Unavailable"},
        std::string_view{"<html><head><title>503</title></head><body>down</body></html>"},
        std::string_view{R"(["message"])"}, std::string_view{R"("message")"},
        std::string_view{R"({"message":"cut off)"}, std::string_view{R"({"status":503})"}}) {
    EXPECT_EQ(error_message(body), "") << body;
  }
}

TEST(ErrorMessage, NeverLongerThanTheLimit) {
  std::string body = R"({"title":")";
  body.append(kTenMegabytes, 'y');
  body += R"(\r\nz"})";
  const std::string message = error_message(body);
  EXPECT_EQ(message, std::string(kMaxMessageBytes, 'y'));
  EXPECT_EQ(error_message(R"({"detail":"a\r\nb"})"), "a  b");
}

// ---------------------------------------------------------------------------------------------
// Rate limiter: simulated time only.

using Clock = TokenBucket::Clock;
constexpr Clock::time_point kT0 = Clock::time_point{} + 1h;

TEST(TokenBucket, StartsFullThenPacesAtTheRate) {
  TokenBucket bucket(10, 5);  // one token per 100 ms
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(bucket.try_take(1, kT0), 0ns) << i;
  }
  EXPECT_EQ(bucket.try_take(1, kT0), 100ms);
  EXPECT_EQ(bucket.try_take(1, kT0 + 40ms), 60ms);
  EXPECT_EQ(bucket.try_take(1, kT0 + 100ms - 1ns), 1ns);
  EXPECT_EQ(bucket.try_take(1, kT0 + 100ms), 0ns) << "waiting the returned time is enough";
  EXPECT_EQ(bucket.try_take(2, kT0 + 100ms), 200ms);
}

TEST(TokenBucket, RefusalTakesNothing) {
  TokenBucket bucket(10, 5);
  EXPECT_EQ(bucket.try_take(5, kT0), 0ns);
  EXPECT_EQ(bucket.try_take(3, kT0 + 100ms), 200ms);
  // Had the refused request taken anything, one token would not be there at +100 ms.
  EXPECT_EQ(bucket.try_take(1, kT0 + 100ms), 0ns);
}

TEST(TokenBucket, IdleTimeFillsOnlyUpToTheBurst) {
  TokenBucket bucket(10, 5);
  EXPECT_EQ(bucket.try_take(5, kT0), 0ns);
  const auto later = kT0 + 1h;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(bucket.try_take(1, later), 0ns) << i;
  }
  EXPECT_EQ(bucket.try_take(1, later), 100ms);
}

TEST(TokenBucket, MoreThanTheBurstGoesIntoDebt) {
  TokenBucket bucket(10, 10);
  // Not full: wait until it is (one token used, 100 ms to refill), and take nothing meanwhile.
  EXPECT_EQ(bucket.try_take(1, kT0), 0ns);
  EXPECT_EQ(bucket.try_take(25, kT0), 100ms);
  EXPECT_EQ(bucket.try_take(25, kT0 + 50ms), 50ms);
  // Full: the big batch goes through, 15 tokens in debt.
  EXPECT_EQ(bucket.try_take(25, kT0 + 100ms), 0ns);
  // The debt is paid before anything else: 15 tokens plus the one asked for, at 100 ms each.
  EXPECT_EQ(bucket.try_take(1, kT0 + 100ms), 1600ms);
  EXPECT_EQ(bucket.try_take(25, kT0 + 100ms), 2500ms) << "full again after 2.5 s";
  EXPECT_EQ(bucket.try_take(1, kT0 + 1700ms), 0ns);
}

TEST(TokenBucket, BurstBelowOneCountsAsOne) {
  TokenBucket bucket(10, 0);
  EXPECT_EQ(bucket.try_take(1, kT0), 0ns);
  EXPECT_EQ(bucket.try_take(1, kT0), 100ms);
}

TEST(TokenBucket, NothingAskedNothingTaken) {
  TokenBucket bucket(10, 1);
  EXPECT_EQ(bucket.try_take(0, kT0), 0ns);
  EXPECT_EQ(bucket.try_take(-3, kT0), 0ns);
  EXPECT_EQ(bucket.try_take(1, kT0), 0ns);
  EXPECT_EQ(bucket.try_take(1, kT0), 100ms);
}

TEST(TokenBucket, Unlimited) {
  for (const double rate : {0.0, -1.0}) {
    TokenBucket bucket(rate, 1);
    EXPECT_TRUE(bucket.unlimited()) << rate;
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(bucket.try_take(1e9, kT0), 0ns) << rate;
    }
  }
  EXPECT_FALSE(TokenBucket(0.001, 1).unlimited());
}

// Takes `n` per request for one simulated minute, either waiting exactly what the bucket says
// or polling on a coarse tick, and returns the tokens taken per second.
double simulated_rate(double rate, double burst, double n, std::chrono::nanoseconds tick) {
  TokenBucket bucket(rate, burst);
  const auto end = kT0 + 60s;
  double taken = 0;
  for (auto now = kT0; now < end;) {
    const auto wait = bucket.try_take(n, now);
    if (wait == 0ns) {
      taken += n;
    } else {
      now += tick > 0ns ? tick : wait;
    }
  }
  return taken / 60.0;
}

TEST(TokenBucket, LongRunRateMatchesTheConfiguredRate) {
  EXPECT_NEAR(simulated_rate(10'000, 500, 100, 0ns), 10'000, 100) << "messages/s";
  EXPECT_NEAR(simulated_rate(1'234.5, 50, 7, 0ns), 1'234.5, 12.345) << "odd batch size";
  EXPECT_NEAR(simulated_rate(3.3, 1, 1, 0ns), 3.3, 0.033) << "requests/s, burst 1";
  EXPECT_NEAR(simulated_rate(900, 100, 1, 7ms), 900, 9) << "caller polls on its own tick";
  EXPECT_NEAR(simulated_rate(10, 5, 20, 0ns), 10, 0.1) << "every take in debt";
}

// Dead-letter breaker: simulated time only.

BreakerSettings breaker_settings() {
  return {std::chrono::seconds(60), 10, 0.5, std::chrono::seconds(30)};
}

TEST(Breaker, OpensOnlyWithEnoughMessagesAndMoreThanTheRatio) {
  Breaker b(breaker_settings());
  const auto t0 = Breaker::Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 9; ++i) {
    b.record(true, t0);
  }
  EXPECT_FALSE(b.open());  // 9 < min_messages
  b.record(false, t0);
  EXPECT_TRUE(b.open());  // 9 of 10
  Breaker exactly(breaker_settings());
  for (int i = 0; i < 5; ++i) {
    exactly.record(true, t0);
    exactly.record(false, t0);
  }
  EXPECT_FALSE(exactly.open());  // 5 of 10 is not more than half
  exactly.record(true, t0);
  EXPECT_TRUE(exactly.open());  // 6 of 11
  EXPECT_EQ(exactly.take_change(), 1);
  EXPECT_EQ(exactly.take_change(), 0);
}

TEST(Breaker, OldAnswersLeaveTheWindow) {
  Breaker b(breaker_settings());
  const auto t0 = Breaker::Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 9; ++i) {
    b.record(true, t0);
  }
  // A minute later the nine refusals have left the window: ten good answers keep it closed.
  for (int i = 0; i < 10; ++i) {
    b.record(false, t0 + std::chrono::seconds(61));
  }
  EXPECT_FALSE(b.open());
}

TEST(Breaker, CoolsDownThenAProbeDecides) {
  Breaker b(breaker_settings());
  const auto t0 = Breaker::Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 10; ++i) {
    b.record(true, t0);
  }
  ASSERT_TRUE(b.open());
  EXPECT_TRUE(b.holding(t0 + std::chrono::seconds(29)));
  b.probe(0, 5, t0 + std::chrono::seconds(29));  // during the cool-down: ignored
  EXPECT_TRUE(b.open());
  const auto t1 = t0 + std::chrono::seconds(31);
  EXPECT_FALSE(b.holding(t1));
  b.probe(4, 5, t1);  // still refused: another cool-down
  EXPECT_TRUE(b.open());
  EXPECT_TRUE(b.holding(t1 + std::chrono::seconds(29)));
  const auto t2 = t1 + std::chrono::seconds(31);
  b.probe(1, 5, t2);
  EXPECT_FALSE(b.open());
  EXPECT_EQ(b.take_change(), 0);  // opened and closed between two looks: no change to report
  // Closed with an empty window: it takes min_messages again to open.
  for (int i = 0; i < 9; ++i) {
    b.record(true, t2);
  }
  EXPECT_FALSE(b.open());
}

// Batch planner.

PartitionQueues queues(std::size_t partitions, std::size_t messages, std::size_t bytes = 10) {
  PartitionQueues out(partitions);
  for (std::size_t p = 0; p < partitions; ++p) {
    for (std::size_t i = 0; i < messages; ++i) {
      Item item;
      item.partition = static_cast<std::uint32_t>(p);
      item.offset = static_cast<std::int64_t>(i);
      item.message.assign(bytes, 'x');
      out[p].queue.push_back(std::move(item));
    }
  }
  return out;
}

// The worker grows its queues when a partition first appears: the messages already queued must
// stay where they are (a vector of queues copied every one of them).
TEST(BatchPlan, ANewPartitionMovesNoQueuedMessage) {
  auto parts = queues(2, 100, 4096);
  const char* first = parts[0].queue.front().message.data();
  const char* last = parts[1].queue.back().message.data();
  for (std::size_t n = 3; n <= 64; ++n) {
    parts.resize(n);
  }
  EXPECT_EQ(parts[0].queue.front().message.data(), first);
  EXPECT_EQ(parts[1].queue.back().message.data(), last);
}

TEST(BatchPlan, PartitionsAreSpreadOverTheConnections) {
  auto parts = queues(6, 10);
  BatchPlan plan;
  plan_batch(parts, 0, {0, 1'000'000, 500, 2}, plan);
  ASSERT_EQ(plan.takes.size(), 3U);  // ceil(6 / 2)
  EXPECT_EQ(plan.takes[0], (std::pair<std::uint32_t, std::size_t>{0, 10}));
  EXPECT_EQ(plan.count, 30U);
  EXPECT_FALSE(plan.full);
  // Partitions in flight still count as having work: the next request takes the other three.
  for (const auto& [pid, take] : plan.takes) {
    parts[pid].busy = true;
  }
  plan_batch(parts, 1, {0, 1'000'000, 500, 2}, plan);
  ASSERT_EQ(plan.takes.size(), 3U);
  EXPECT_EQ(plan.takes[0].first, 3U);
  // With as many connections as partitions, one partition per request.
  auto eight = queues(6, 10);
  plan_batch(eight, 0, {0, 1'000'000, 500, 8}, plan);
  EXPECT_EQ(plan.takes.size(), 1U);
}

TEST(BatchPlan, BytesMessagesAndBisectLimits) {
  auto parts = queues(1, 100, 100);
  BatchPlan plan;
  // 15 framing + 100 + 9 * 101 = 1024 bytes for ten messages.
  plan_batch(parts, 0, {0, 1024, 500, 1}, plan);
  EXPECT_EQ(plan.count, 10U);
  EXPECT_EQ(plan.bytes, 1024U);
  EXPECT_TRUE(plan.full);
  plan_batch(parts, 0, {0, 1'000'000, 7, 1}, plan);
  EXPECT_EQ(plan.count, 7U);
  EXPECT_TRUE(plan.full);
  // A message being bisected limits the whole request, wherever it sits.
  parts[0].queue[3].max_batch = 2;
  plan_batch(parts, 0, {0, 1'000'000, 500, 1}, plan);
  EXPECT_EQ(plan.count, 3U);  // 0, 1, 2: taking 3 would make a request of 4 > 2
  parts[0].queue[0].max_batch = 2;
  plan_batch(parts, 0, {0, 1'000'000, 500, 1}, plan);
  EXPECT_EQ(plan.count, 2U);
}

TEST(BatchPlan, APartitionsTakeLimitCapsOnlyItsOwnMessages) {
  auto parts = queues(2, 10);
  parts[0].take_limit = 3;
  BatchPlan plan;
  plan_batch(parts, 0, {0, 1'000'000, 500, 1}, plan);
  ASSERT_EQ(plan.takes.size(), 2U);
  EXPECT_EQ(plan.takes[0], (std::pair<std::uint32_t, std::size_t>{0, 3}));
  EXPECT_EQ(plan.takes[1], (std::pair<std::uint32_t, std::size_t>{1, 10}));
  EXPECT_FALSE(plan.full);
}

TEST(BatchPlan, OnlyIdlePartitionsOfTheInletAndOnlyItsLeadingMessages) {
  auto parts = queues(3, 4);
  parts[0].busy = true;
  parts[1].queue[2].inlet = 1;  // the inlet changes after two messages
  parts[2].queue[0].inlet = 1;
  BatchPlan plan;
  plan_batch(parts, 0, {0, 1'000'000, 500, 1}, plan);
  ASSERT_EQ(plan.takes.size(), 1U);
  EXPECT_EQ(plan.takes[0], (std::pair<std::uint32_t, std::size_t>{1, 2}));
  EXPECT_FALSE(plan.full);
  plan_batch(parts, 0, {1, 1'000'000, 500, 1}, plan);
  ASSERT_EQ(plan.takes.size(), 1U);
  EXPECT_EQ(plan.takes[0], (std::pair<std::uint32_t, std::size_t>{2, 1}));
}

// Per-partition queues.

Item message(std::uint32_t partition, std::int64_t offset, std::uint64_t epoch = 0) {
  Item item;
  item.partition = partition;
  item.offset = offset;
  item.epoch = epoch;
  item.message = "m" + std::to_string(offset);
  return item;
}

std::vector<std::int64_t> offsets(const std::vector<Item>& items) {
  std::vector<std::int64_t> out;
  for (const Item& item : items) {
    out.push_back(item.offset);
  }
  return out;
}

std::vector<std::int64_t> queued(const Queues& q, std::uint32_t pid) {
  std::vector<std::int64_t> out;
  for (const Item& item : q.view()[pid].queue) {
    out.push_back(item.offset);
  }
  return out;
}

TEST(Queues, ARetryRefusesOlderEpochsUntilTheResendBegins) {
  Queues q;
  for (std::int64_t o = 0; o < 4; ++o) {
    Item item = message(2, o, 1);
    ASSERT_TRUE(q.admit(item));
  }
  EXPECT_EQ(q.size(), 3U);  // grown to the partition id
  // Offset 0 failed with a retry: 1..3 are handed back, in order, to be answered retry.
  Item failed = q.pop(2);
  std::vector<Item> later;
  q.bar(2, failed.epoch, later);
  EXPECT_EQ(offsets(later), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_TRUE(q.view()[2].queue.empty());
  // Still in the pipe from before the pipeline saw the retry: refused, left with the caller.
  Item stale = message(2, 4, 1);
  EXPECT_FALSE(q.admit(stale));
  EXPECT_EQ(stale.message, "m4");
  Item older = message(2, 5, 0);
  EXPECT_FALSE(q.admit(older));
  // The re-send (a newer epoch) is admitted and lifts the barrier.
  Item resend = message(2, 0, 2);
  EXPECT_TRUE(q.admit(resend));
  EXPECT_FALSE(q.view()[2].barrier.has_value());
  // Other partitions were never held.
  Item other = message(0, 9, 0);
  EXPECT_TRUE(q.admit(other));
}

TEST(Queues, TheBarrierNeverFalls) {
  Queues q;
  std::vector<Item> later;
  q.bar(0, 5, later);
  q.bar(0, 3, later);  // an older request's retry answered late
  EXPECT_TRUE(later.empty());
  Item four = message(0, 0, 4);
  EXPECT_FALSE(q.admit(four));
  Item six = message(0, 0, 6);
  EXPECT_TRUE(q.admit(six));
}

TEST(Queues, TakenMessagesBusyThePartitionAndGoBackInOrder) {
  Queues q;
  for (std::int64_t o = 0; o < 5; ++o) {
    Item a = message(0, o);
    Item b = message(1, o);
    ASSERT_TRUE(q.admit(a));
    ASSERT_TRUE(q.admit(b));
  }
  std::vector<Item> request;
  q.take(0, 3, request);
  q.take(1, 2, request);
  EXPECT_EQ(offsets(request), (std::vector<std::int64_t>{0, 1, 2, 0, 1}));
  EXPECT_TRUE(q.view()[0].busy);
  EXPECT_EQ(q.waiting(0, 0), nullptr);  // busy: not waiting
  EXPECT_EQ(q.waiting(1, 7), nullptr);  // another inlet
  // Bisect or re-auth: the request's messages return to the front, in order; a message of a
  // partition released meanwhile is dropped instead.
  request[4].released = true;
  std::vector<Item> dropped;
  q.put_back(request, dropped);
  EXPECT_TRUE(request.empty());
  EXPECT_EQ(offsets(dropped), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(queued(q, 0), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(queued(q, 1), (std::vector<std::int64_t>{0, 2, 3, 4}));
  EXPECT_FALSE(q.view()[0].busy);
  ASSERT_NE(q.waiting(0, 0), nullptr);
  EXPECT_EQ(q.waiting(0, 0)->offset, 0);
  EXPECT_EQ(q.waiting(9, 0), nullptr);  // never seen
}

TEST(Queues, AReleasedPartitionStartsAfresh) {
  Queues q;
  for (std::int64_t o = 0; o < 3; ++o) {
    Item item = message(1, o, 1);
    ASSERT_TRUE(q.admit(item));
  }
  std::vector<Item> request;
  q.take(1, 1, request);
  q.adapt(
      request, [](std::uint32_t) { return true; }, 500);
  std::vector<Item> later;
  q.bar(1, 1, later);
  EXPECT_EQ(later.size(), 2U);
  Item more = message(1, 3, 2);
  ASSERT_TRUE(q.admit(more));  // the re-send began
  std::vector<Item> before_barrier;
  q.bar(1, 2, before_barrier);  // and failed again
  std::vector<Item> dropped;
  q.release(1, dropped);
  q.release(42, dropped);  // unknown: nothing
  EXPECT_TRUE(dropped.empty());
  EXPECT_FALSE(q.view()[1].barrier.has_value());
  EXPECT_EQ(q.view()[1].take_limit, 0U);
  Item reassigned = message(1, 0, 0);  // a new owner's epochs may start low
  EXPECT_TRUE(q.admit(reassigned));
  Item queued_then_released = message(1, 1, 0);
  ASSERT_TRUE(q.admit(queued_then_released));
  q.release(1, dropped);
  EXPECT_EQ(offsets(dropped), (std::vector<std::int64_t>{0, 1}));
  EXPECT_TRUE(q.view()[1].queue.empty());
}

TEST(Queues, TakeLimitsHalveOnFailureAndDoubleBackToNone) {
  Queues q;
  const auto settle = [&q](std::uint32_t pid, std::size_t n, bool failed, bool released = false) {
    std::vector<Item> items;
    for (std::size_t i = 0; i < n; ++i) {
      Item item = message(pid, static_cast<std::int64_t>(i));
      item.released = released;
      items.push_back(std::move(item));
    }
    q.adapt(
        items, [failed](std::uint32_t) { return failed; }, 16);
  };
  settle(0, 10, true);
  EXPECT_EQ(q.view()[0].take_limit, 5U);
  settle(0, 5, true);
  EXPECT_EQ(q.view()[0].take_limit, 2U);
  settle(0, 1, true);
  EXPECT_EQ(q.view()[0].take_limit, 1U);  // never 0 (which means no limit)
  settle(0, 1, false, true);              // released: no change
  EXPECT_EQ(q.view()[0].take_limit, 1U);
  settle(0, 1, false);
  EXPECT_EQ(q.view()[0].take_limit, 2U);
  settle(0, 2, false);
  settle(0, 4, false);
  EXPECT_EQ(q.view()[0].take_limit, 8U);
  settle(0, 8, false);  // 16 reaches max_messages: no limit again
  EXPECT_EQ(q.view()[0].take_limit, 0U);
  // One request, two partitions: each judged on its own.
  std::vector<Item> both;
  for (std::int64_t o = 0; o < 4; ++o) {
    both.push_back(message(1, o));
  }
  for (std::int64_t o = 0; o < 6; ++o) {
    both.push_back(message(2, o));
  }
  q.adapt(
      both, [](std::uint32_t pid) { return pid == 2; }, 16);
  EXPECT_EQ(q.view()[1].take_limit, 0U);
  EXPECT_EQ(q.view()[2].take_limit, 3U);
}

}  // namespace
}  // namespace bridge::platform

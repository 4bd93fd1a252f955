// The webhook receiver's parts that need no network: what a body must be and what is taken from
// each event (Inspector), the record key, the secret header check, and the `receiver:` config.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <deque>
#include <string>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/receiver/auth.h"
#include "bridge/receiver/events.h"

namespace bridge::receiver {
namespace {

// The Inspector needs simdjson's padding after the body, as the receiver's buffers have.
struct Padded {
  explicit Padded(std::string s) : text(std::move(s)) {
    size = text.size();
    text.append(simdjson::SIMDJSON_PADDING, '\0');
  }
  [[nodiscard]] std::string_view view() const { return {text.data(), size}; }
  std::string text;
  std::size_t size = 0;
};

core::Result<std::vector<Event>> inspect(const std::string& body) {
  static Inspector inspector;
  const Padded padded(body);
  std::vector<Event> out;
  if (auto ok = inspector.inspect(padded.view(), out); !ok) {
    return tl::unexpected(ok.error());
  }
  // The views point into `padded`: copies that outlive it, for the test (a deque keeps them put).
  static std::deque<std::string> kept;
  for (auto& e : out) {
    e.raw = kept.emplace_back(e.raw);
  }
  return out;
}

TEST(Inspector, TakesIdsFromAFlatEvent) {
  const std::string body = R"({"eventName":"pointsIssued","eventId":"e-1","orgId":50001,)"
                           R"("data":{"customerIdentifiers":{"customerId":510000101}}})";
  const auto events = inspect(body);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 1U);
  const Event& e = events->front();
  EXPECT_EQ(e.raw, body);  // unchanged bytes
  EXPECT_EQ(e.event_id, "e-1");
  EXPECT_TRUE(e.has_org_id);
  EXPECT_EQ(e.org_id, 50001);
  EXPECT_EQ(e.customer_id, "510000101");
}

TEST(Inspector, FindsTheCustomerInAWrappedEventAndInCoupons) {
  const auto wrapped =
      inspect(R"({"eventId":"w-1","eventType":"50002_customerAdded","attributes":{"createdAt":1,)"
              R"("data":{"customerIdentifiers":{"customerId":" 77 "}}}})");
  ASSERT_TRUE(wrapped) << wrapped.error().message;
  EXPECT_EQ(wrapped->front().org_id, 50002);  // from the eventType prefix
  EXPECT_EQ(wrapped->front().customer_id, "77");
  const auto coupon =
      inspect(R"({"eventName":"couponIssued","eventId":"c-1","orgId":1,"data":{"coupons":[)"
              R"({"customerIdentifiers":{"customerId":42.0}}]}})");
  ASSERT_TRUE(coupon) << coupon.error().message;
  EXPECT_EQ(coupon->front().customer_id, "42");
}

TEST(Inspector, AcceptsAnObjectWithoutEventNameForTheDeadLetterTopic) {
  const auto events = inspect(R"({"hello":"world"})");
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 1U);
  EXPECT_TRUE(events->front().event_id.empty());
  EXPECT_TRUE(events->front().customer_id.empty());
}

TEST(Inspector, SplitsABatchIntoItsElementsExactBytes) {
  const std::string a = R"({"eventName":"x","eventId":"a","orgId":1})";
  const std::string b = "{ \"eventName\" : \"y\", \"eventId\":\"b\" }";
  const auto events = inspect("[ " + a + " ,\n" + b + " ]\n");
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 2U);
  EXPECT_EQ((*events)[0].raw, a);
  EXPECT_EQ((*events)[1].raw, b);
  EXPECT_EQ((*events)[1].event_id, "b");
}

TEST(Inspector, RefusesWhatIsNotAnEventWithAShortReason) {
  struct Case {
    std::string body;
    std::string code;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"", "malformed-json", "empty"},
      {"   \n", "malformed-json", "empty"},
      {"not json", "malformed-json", ""},
      {"42", "malformed-json", "not a JSON object"},
      {R"({"eventName":"x")", "malformed-json", ""},
      {"{\"eventName\":\"\xff\"}", "encoding", "UTF-8"},
      {"[{\"eventName\":\"\xc3\"}]", "encoding", "UTF-8"},
      {"[]", "malformed-json", "empty JSON array"},
      {R"([{"eventName":"x"}, 3])", "malformed-json", "batch element 1 is not a JSON object"},
      {R"([{"eventName":"x"}] [])", "malformed-json", "after the JSON array"},
      {R"([{"eventName":"x"}, {"a": }])", "malformed-json", "not JSON"},
      {R"({"eventName":"x"} {"eventName":"y"})", "malformed-json", "after the JSON object"},
  };
  for (const auto& c : cases) {
    const auto r = inspect(c.body);
    ASSERT_FALSE(r) << "accepted: " << c.body;
    EXPECT_EQ(r.error().code, c.code) << c.body << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.message_part), std::string::npos)
        << c.body << ": " << r.error().message;
  }
}

TEST(Key, KeepsOneCustomerOnOneKeyAndFallsBackToTheEventId) {
  Event e;
  e.event_id = "e-9";
  e.org_id = 50001;
  e.has_org_id = true;
  e.customer_id = "510000101";
  std::string key;
  key_for(e, config::ReceiverKey::customer, 0, key);
  EXPECT_EQ(key, "50001:510000101");
  key_for(e, config::ReceiverKey::event_id, 0, key);
  EXPECT_EQ(key, "e-9");
  key_for(e, config::ReceiverKey::none, 0, key);
  EXPECT_EQ(key, "");
  e.has_org_id = false;
  key_for(e, config::ReceiverKey::customer, 777, key);
  EXPECT_EQ(key, "777:510000101");  // the orgId of a /{orgId} path
  e.customer_id.clear();
  key_for(e, config::ReceiverKey::customer, 777, key);
  EXPECT_EQ(key, "e-9");
}

TEST(Authenticator, AcceptsEveryConfiguredTokenAndNothingElse) {
  config::ReceiverAuth auth;
  auth.tokens.emplace_back(std::string("current-token"));
  auth.tokens.emplace_back(std::string("next-token"));
  const Authenticator a(auth);
  EXPECT_EQ(a.header(), "Authorization");
  EXPECT_TRUE(a.accepts("Bearer current-token"));
  EXPECT_TRUE(a.accepts("Bearer next-token"));
  EXPECT_FALSE(a.accepts("current-token"));
  EXPECT_FALSE(a.accepts("Bearer current-toke"));
  EXPECT_FALSE(a.accepts("Bearer current-tokenX"));
  EXPECT_FALSE(a.accepts("bearer current-token"));
  EXPECT_FALSE(a.accepts(""));
  config::ReceiverAuth custom;
  custom.header = "X-Capillary-Secret";
  custom.prefix = "";
  custom.tokens.emplace_back(std::string("s3"));
  const Authenticator b(custom);
  EXPECT_TRUE(b.accepts("s3"));
  EXPECT_FALSE(b.accepts("Bearer s3"));
  const Authenticator none(config::ReceiverAuth{});
  EXPECT_FALSE(none.accepts("Bearer "));
}

const char* const kBase = R"(kafka:
  brokers: 127.0.0.1:9092
  topics: [capillary.events]
routes:
  - transform: passthrough
    settings: {target: default}
)";

TEST(ReceiverConfig, ReadsTheBlockWithDefaults) {
  const std::string tokens = ::testing::TempDir() + "/receiver-tokens";
  {
    std::FILE* f = std::fopen(tokens.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("\xEF\xBB\xBF# old first, then the new one\nold-token\n\n  new-token  \r\n", f);
    std::fclose(f);
  }
  const std::string yaml = std::string(kBase) + R"(receiver:
  listen: 127.0.0.1:0
  key: event-id
  limits: {max_body_bytes: 64KiB, read_timeout_ms: 3000}
  paths:
    - path: /capillary/events
      auth: {tokens: ["t1", ""], tokens_file: )" +
                           tokens + R"(}
    - path: /capillary/events/{orgId}
      topic: other
      auth: {header: X-Secret, tokens: [t2]}
)";
  const auto loaded = config::load_string(yaml, "r.yaml");
  ASSERT_TRUE(loaded.diagnostics.ok()) << loaded.diagnostics.to_string();
  const auto& r = loaded.config.receiver;
  EXPECT_TRUE(r.present);
  EXPECT_EQ(r.topic, "capillary.events");  // the first of kafka.topics
  EXPECT_EQ(r.key, config::ReceiverKey::event_id);
  EXPECT_EQ(r.brokers, "127.0.0.1:9092");
  EXPECT_EQ(r.max_body_bytes, 64 * 1024);
  EXPECT_EQ(r.read_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(r.produce_timeout, std::chrono::milliseconds(10000));
  ASSERT_EQ(r.paths.size(), 2U);
  EXPECT_EQ(r.paths[0].topic, "capillary.events");
  EXPECT_EQ(r.paths[0].auth.prefix, "Bearer ");
  ASSERT_EQ(r.paths[0].auth.tokens.size(), 3U);  // t1, old-token, new-token; "" dropped
  EXPECT_EQ(r.paths[0].auth.tokens[1].reveal(), "old-token");
  EXPECT_EQ(r.paths[0].auth.tokens[2].reveal(), "new-token");
  EXPECT_EQ(r.paths[1].topic, "other");
  EXPECT_EQ(r.paths[1].auth.header, "X-Secret");
  EXPECT_EQ(r.paths[1].auth.prefix, "");
}

TEST(ReceiverConfig, ListsEveryProblemWithItsLine) {
  const std::string yaml = std::string(kBase) + R"(receiver:
  listen: nowhere
  key: customers
  properties: {acks: "1"}
  tls: {cert_file: /x.pem}
  limits: {max_body_bytes: 1GiB, colour: blue}
  paths:
    - path: capillary/events
      auth: {tokens: [t]}
    - path: /a/{customerId}
      auth: {tokens: [""]}
    - path: /b
)";
  const auto loaded = config::load_string(yaml, "r.yaml");
  const std::string text = loaded.diagnostics.to_string();
  for (const char* expected :
       {"r.yaml:8:11: receiver.listen must be host:port",
        "r.yaml:10:15: receiver.properties.acks is set by the receiver",
        "r.yaml:9:8: receiver.key must be one of", "r.yaml:11:8: receiver.tls needs both",
        "r.yaml:12:28: receiver.limits.max_body_bytes must be at most 64MiB",
        "r.yaml:12:34: unknown key 'colour' in receiver.limits",
        "r.yaml:14:13: receiver.paths[0].path must start with '/'",
        "r.yaml:16:13: receiver.paths[1].path must start with '/'",
        "r.yaml:17:13: receiver.paths[1].auth accepts no token",
        "r.yaml:18:7: receiver.paths[2].auth (every path needs a secret header"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\n" << text;
  }
}

}  // namespace
}  // namespace bridge::receiver

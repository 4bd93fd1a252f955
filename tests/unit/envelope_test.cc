// EnvelopeReader: the five documented envelope variants (reference/capillary-events.md section
// 3), the field forms of sections 10.3-10.4, malformed input, and every line of the sample file.

#include "transforms/api/envelope.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "transforms/api/values.h"

namespace transforms {
namespace {

// True when `inner` lies inside `outer` (views must point into the payload).
bool within(std::string_view outer, std::string_view inner) {
  const std::less_equal<const char*> le;
  return le(outer.data(), inner.data()) &&
         le(inner.data() + inner.size(), outer.data() + outer.size());
}

class EnvelopeTest : public ::testing::Test {
 protected:
  Envelope ok(const std::string& payload) {
    payload_ = payload;
    auto r = reader_.read(payload_);
    EXPECT_TRUE(r.has_value()) << payload << "\n -> " << (r ? "" : r.error().code) << ": "
                               << (r ? "" : r.error().message);
    return r ? *r : Envelope{};
  }

  bridge::core::Error fails(const std::string& payload) {
    payload_ = payload;
    auto r = reader_.read(payload_);
    EXPECT_FALSE(r.has_value()) << payload << " was accepted";
    if (r) {
      return {};
    }
    EXPECT_EQ(r.error().kind, bridge::core::ErrorKind::reject);
    return r.error();
  }

  EnvelopeReader reader_;
  std::string payload_;
};

TEST_F(EnvelopeTest, FlatE1) {
  const Envelope e =
      ok(R"( {"eventName":"pointsIssued","eventId":"4647d7b7-61c0","orgId":50001,)"
         R"("createdAt":1750224535590,"data":{"customerIdentifiers":{"customerId":1}},)"
         R"("loyaltyEventId":null} )"
         "\n");
  EXPECT_EQ(e.variant, EnvelopeVariant::e1_flat);
  EXPECT_EQ(e.event_name, "pointsIssued");
  EXPECT_EQ(e.event_id, "4647d7b7-61c0");
  EXPECT_TRUE(e.has_org_id);
  EXPECT_EQ(e.org_id, 50001);
  EXPECT_TRUE(e.has_created_at);
  EXPECT_EQ(e.created_at_ms, 1750224535590);
  EXPECT_EQ(e.data_raw, R"({"customerIdentifiers":{"customerId":1}})");
  EXPECT_EQ(e.event_raw.front(), '{');
  EXPECT_EQ(e.event_raw.back(), '}');
  EXPECT_EQ(e.event_raw.size(), payload_.size() - 3);
  EXPECT_TRUE(within(payload_, e.event_name));
  EXPECT_TRUE(within(payload_, e.event_id));
  EXPECT_TRUE(within(payload_, e.data_raw));
  EXPECT_TRUE(within(payload_, e.event_raw));
}

TEST_F(EnvelopeTest, MissingOptionalFields) {
  const Envelope e = ok(R"({"eventName":"tierRenewed"})");
  EXPECT_EQ(e.event_name, "tierRenewed");
  EXPECT_TRUE(e.event_id.empty());
  EXPECT_FALSE(e.has_org_id);
  EXPECT_FALSE(e.has_created_at);
  EXPECT_TRUE(e.data_raw.empty());
  EXPECT_TRUE(ok(R"({"eventName":"x","data":null})").data_raw.empty());
}

TEST_F(EnvelopeTest, WrappedE2WithOrgPrefix) {
  const Envelope e = ok(
      R"({"eventId":"81b1f0ce","eventType":"50001_customerAdded","consumerGroupId":null,)"
      R"("actionType":"START","timeStamp":1683874799984,"attributes":{"createdAt":1683874799971,)"
      R"("data":{"loyaltyType":"LOYALTY","firstName":"Test"} ,"eventName":"customerAdded",)"
      R"("refId":"50001_164875382","orgId":50001}})");
  EXPECT_EQ(e.variant, EnvelopeVariant::e2_wrapped);
  EXPECT_EQ(e.event_name, "customerAdded");
  EXPECT_EQ(e.event_id, "81b1f0ce");
  EXPECT_EQ(e.org_id, 50001);
  EXPECT_EQ(e.created_at_ms, 1683874799971);
  EXPECT_EQ(e.data_raw, R"({"loyaltyType":"LOYALTY","firstName":"Test"})");
  EXPECT_EQ(e.event_raw.substr(0, 13), R"({"createdAt":)");
  EXPECT_EQ(e.event_raw.substr(e.event_raw.size() - 14), R"("orgId":50001})");
  EXPECT_TRUE(within(payload_, e.event_raw));
  EXPECT_TRUE(within(payload_, e.event_name));
}

TEST_F(EnvelopeTest, WrappedE2NameFromEventTypeAndFallbacks) {
  // No attributes.eventName: the name comes from eventType, prefix stripped; no orgId and no
  // createdAt in attributes: the eventType prefix and timeStamp stand in.
  Envelope e =
      ok(R"({"eventId":"e2-1","eventType":"50001_streakLevelAchieved","actionType":"START",)"
         R"("timeStamp":1683874799984,"attributes":{"data":{"streakData":[]}}})");
  EXPECT_EQ(e.variant, EnvelopeVariant::e2_wrapped);
  EXPECT_EQ(e.event_name, "streakLevelAchieved");
  EXPECT_TRUE(e.has_org_id);
  EXPECT_EQ(e.org_id, 50001);
  EXPECT_TRUE(e.has_created_at);
  EXPECT_EQ(e.created_at_ms, 1683874799984);
  EXPECT_EQ(e.data_raw, R"({"streakData":[]})");

  // Bare eventType, prefixed attributes.eventName.
  e = ok(R"({"eventId":"e2-2","eventType":"pointsRedeemed","attributes":)"
         R"({"eventName":"150698_pointsRedeemed","orgId":"150698","createdAt":1}})");
  EXPECT_EQ(e.event_name, "pointsRedeemed");
  EXPECT_EQ(e.org_id, 150698);

  // Names that merely contain digits and underscores are left alone.
  EXPECT_EQ(ok(R"({"eventType":"x","attributes":{"eventName":"_1abc"}})").event_name, "_1abc");
  EXPECT_EQ(ok(R"({"eventType":"123_","attributes":{}})").event_name, "123_");
}

TEST_F(EnvelopeTest, BodyE3) {
  const Envelope e = ok(R"({"body":{"eventName":"pointsRedeemed","eventId":"b-1","orgId":50001,)"
                        R"("createdAt":1630927652264,"data":{"totalPointsRedeemed":1500.0}}})");
  EXPECT_EQ(e.variant, EnvelopeVariant::e3_body);
  EXPECT_EQ(e.event_name, "pointsRedeemed");
  EXPECT_EQ(e.event_id, "b-1");
  EXPECT_EQ(e.org_id, 50001);
  EXPECT_EQ(e.created_at_ms, 1630927652264);
  EXPECT_EQ(e.data_raw, R"({"totalPointsRedeemed":1500.0})");
  EXPECT_EQ(e.event_raw, payload_.substr(8, payload_.size() - 9));
}

TEST_F(EnvelopeTest, ApiResponseE4) {
  const Envelope e = ok(
      R"({"data":{"eventName":"customerUpdated","eventId":"d-1","orgId":"50001",)"
      R"("createdAt":1630927652264,"data":{"updatedFields":[]}},"errors":null,"warnings":null})");
  EXPECT_EQ(e.variant, EnvelopeVariant::e4_api_response);
  EXPECT_EQ(e.event_name, "customerUpdated");
  EXPECT_EQ(e.event_id, "d-1");
  EXPECT_TRUE(e.has_org_id);
  EXPECT_EQ(e.org_id, 50001);
  EXPECT_EQ(e.data_raw, R"({"updatedFields":[]})");
  EXPECT_EQ(e.event_raw.substr(0, 13), R"({"eventName":)");
  EXPECT_EQ(e.event_raw.back(), '}');
  EXPECT_EQ(e.event_raw.find("errors"), std::string_view::npos);
}

TEST_F(EnvelopeTest, RawE5NeedsEventLogIdAndTraceAttributes) {
  const std::string e5 =
      R"({"eventName":"rewardIssued","eventLogId":41000013,"data":{"rewardId":868},)"
      R"("refId":"50001_a","eventId":"r-1","createdAt":1719119175801,)"
      R"("traceAttributes":{"requestId":"abc"},"orgId":50001})";
  EXPECT_EQ(ok(e5).variant, EnvelopeVariant::e5_raw);
  EXPECT_EQ(ok(R"({"eventName":"pointsIssued","eventLogId":39125117})").variant,
            EnvelopeVariant::e1_flat);
  EXPECT_EQ(ok(R"({"eventName":"rewardIssued","traceAttributes":{}})").variant,
            EnvelopeVariant::e1_flat);
}

TEST_F(EnvelopeTest, TopLevelNameWinsOverInnerDataEventName) {
  // Target events carry data.eventName (the triggering loyalty event); the envelope wins.
  const Envelope e = ok(
      R"({"eventName":"targetValueAchieved","data":{"eventName":"TransactionAdd","eventId":15}})");
  EXPECT_EQ(e.variant, EnvelopeVariant::e1_flat);
  EXPECT_EQ(e.event_name, "targetValueAchieved");
  EXPECT_TRUE(e.event_id.empty());
}

TEST_F(EnvelopeTest, TrimsNamesIdsAndKeys) {
  const Envelope e =
      ok(R"({" eventName ":"  points\u0049ssued\t","eventId ":" id-1 ","orgId ":7})");
  EXPECT_EQ(e.event_name, "pointsIssued");
  EXPECT_EQ(e.event_id, "id-1");
  EXPECT_EQ(e.org_id, 7);
}

TEST_F(EnvelopeTest, EscapedStringsAreUnescaped) {
  const Envelope e = ok(R"({"eventName":"\u0070oints\u0049ssued","eventId":"a\"b"})");
  EXPECT_EQ(e.event_name, "pointsIssued");
  EXPECT_EQ(e.event_id, "a\"b");
  // Stays valid after a later read of a payload without escapes.
  EnvelopeReader other;
  const std::string p2 = R"({"eventName":"x\u00e9"})";
  auto r = other.read(p2);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->event_name, "x\xc3\xa9");
}

TEST_F(EnvelopeTest, NumericEventIdIsKeptAsWritten) {
  EXPECT_EQ(ok(R"({"eventName":"x","eventId":12345})").event_id, "12345");
}

TEST_F(EnvelopeTest, OrgIdForms) {
  EXPECT_EQ(ok(R"({"eventName":"x","orgId":50001})").org_id, 50001);
  EXPECT_EQ(ok(R"({"eventName":"x","orgId":"50001"})").org_id, 50001);
  EXPECT_EQ(ok(R"({"eventName":"x","orgId":" 50001 "})").org_id, 50001);
  EXPECT_EQ(ok(R"({"eventName":"x","orgId":50952.0})").org_id, 50952);
  EXPECT_FALSE(ok(R"({"eventName":"x","orgId":"abc"})").has_org_id);
  EXPECT_FALSE(ok(R"({"eventName":"x","orgId":1.5})").has_org_id);
  EXPECT_FALSE(ok(R"({"eventName":"x","orgId":""})").has_org_id);
  EXPECT_FALSE(ok(R"({"eventName":"x","orgId":null})").has_org_id);
  EXPECT_FALSE(ok(R"({"eventName":"x","orgId":99999999999999999999})").has_org_id);
}

TEST_F(EnvelopeTest, CreatedAtForms) {
  const auto created = [&](const std::string& value) -> std::optional<std::int64_t> {
    const Envelope e = ok(R"({"eventName":"x","createdAt":)" + value + "}");
    return e.has_created_at ? std::optional<std::int64_t>(e.created_at_ms) : std::nullopt;
  };
  constexpr std::int64_t kMs = 1740823200000;  // 2025-03-01T10:00:00Z
  EXPECT_EQ(created("1740823200000"), kMs);
  EXPECT_EQ(created("1740823200"), kMs);  // seconds
  EXPECT_EQ(created("1.7408232E12"), kMs);
  EXPECT_EQ(created("1.657437873E12"), 1657437873000);
  EXPECT_EQ(created("1740823200.5"), kMs + 500);
  EXPECT_EQ(created(R"("1740823200000")"), kMs);
  EXPECT_EQ(created(R"("2025-03-01T10:00:00Z")"), kMs);
  EXPECT_EQ(created(R"("2025-03-01T10:00:00.123Z")"), kMs + 123);
  EXPECT_EQ(created(R"("2025-03-01T10:00:00.1234567Z")"), kMs + 123);
  EXPECT_EQ(created(R"("2025-03-01T10:00:00.172+0000")"), kMs + 172);
  EXPECT_EQ(created(R"("2025-03-01T15:30:00+05:30")"), kMs);
  EXPECT_EQ(created(R"("2025-03-01T15:30:00+0530")"), kMs);
  EXPECT_EQ(created(R"("2025-03-01 02:00:00-08:00")"), kMs);
  EXPECT_EQ(created(R"("2025-03-01T11:00+01")"), kMs);
  EXPECT_EQ(created(R"("2024-02-29T00:00:00Z")"), 1709164800000);
  // Ambiguous or not a time: left unset, never an error.
  EXPECT_EQ(created(R"("2025-03-01 10:00:00")"), std::nullopt);  // no offset
  EXPECT_EQ(created(R"("2025-03-01")"), std::nullopt);
  EXPECT_EQ(created(R"("2025-02-29T00:00:00Z")"), std::nullopt);
  EXPECT_EQ(created(R"("2025-03-01T24:00:00Z")"), std::nullopt);
  EXPECT_EQ(created(R"("Tue Mar 04 15:27:00 GMT 2025")"), std::nullopt);
  EXPECT_EQ(created(R"("")"), std::nullopt);
  EXPECT_EQ(created("0"), std::nullopt);
  EXPECT_EQ(created("-5"), std::nullopt);
  EXPECT_EQ(created("null"), std::nullopt);
  EXPECT_EQ(created("true"), std::nullopt);
}

TEST_F(EnvelopeTest, ValidJsonBeyondSixtyFourBitsIsAccepted) {
  const Envelope e = ok(R"({"eventName":"x","data":{"n":123456789012345678901234567890,)"
                        R"("m":1e400,"k":-0.5e-3,"a":[true,false,null,"s",{}]}})");
  EXPECT_EQ(e.event_name, "x");
}

TEST_F(EnvelopeTest, MalformedJson) {
  for (const auto& payload : {
           std::string("this is not JSON at all"),
           std::string(R"({"eventName": "transactionAdded", "data": {"amount": 12)"),
           std::string(R"({"eventName":"x","data":{"a":[1,2]})"),
           std::string(R"({"eventName":"x"} {"eventName":"y"})"),
           std::string(R"({"eventName":"x"}})"),
           std::string(R"({"eventName":"x","data":{"a":[1,,2]}})"),
           std::string(R"({"eventName":"x","data":{"a":tru}})"),
           std::string(R"({"eventName":"x","data":{"a":01}})"),
           std::string(R"({"eventName":"x","data":{"a" 1}})"),
           std::string(R"({"eventName":"x","data":{"a":"\q"}})"),
           std::string(R"({"eventName":"x","orgId":1 2})"),
           std::string(R"({"eventName":"x",})"),
           std::string(""),
           std::string("   \n"),
       }) {
    EXPECT_EQ(fails(payload).code, "malformed-json") << payload;
  }
}

// Check::defer_data (the stage's parse once) moves the validation of `data`'s contents to
// check_data() or to the transform walking data(); the verdict on every payload is the one a full
// read gives, and data() is the value data_raw spans, in every envelope variant.
TEST_F(EnvelopeTest, DeferredDataGivesTheSameVerdictsAndTheSameData) {
  const std::string deep = std::string(300, '[') + std::string(300, ']');
  const std::vector<std::string> payloads = {
      // accepted, each variant
      R"({"eventName":"a","eventId":"1","data":{"x":[1,{"y":"z"}],"n":null}})",
      R"({"data":{"x":1},"eventName":"a"})",  // data before the name: looked into as E4
      R"({"eventType":"5_a","attributes":{"eventName":"a","data":{"x":[true]}}})",
      R"({"body":{"eventName":"a","data":{"x":1e400}}})",
      R"({"data":{"eventName":"a","data":{"x":"é"}},"errors":[]})",
      R"({"eventName":"a","eventLogId":1,"traceAttributes":{},"data":{"x":{}}})",
      R"({"eventName":"a","data":"text"})",
      R"({"eventName":"a","data":[1,2]})",
      R"({"eventName":"a"})",
      // a later member undoes E1: the top-level data is an E4 event after all
      R"({"eventName":"a","data":{"eventName":"b","data":{"x":1}},"eventName":null})",
      // two `data` members: the last one is the event's
      R"({"eventName":"a","data":{"x":1},"data":{"y":2}})",
      // broken inside data, in each variant
      R"({"eventName":"a","data":{"x":[1,tru]}})",
      R"({"data":{"x":01},"eventName":"a"})",
      R"({"eventType":"5_a","attributes":{"eventName":"a","data":{"x":"\q"}}})",
      R"({"body":{"eventName":"a","data":{"x" 1}}})",
      R"({"data":{"eventName":"a","data":{"x":nul}},"errors":[]})",
      R"({"data":{"eventName":"a","junk":tru,"data":{}},"errors":[]})",
      R"({"eventName":"a","data":{"x":)" + deep + "}}",
      // broken in a `data` that is not the event's, or next to an envelope reject
      R"({"eventName":"a","data":{"x":tru},"data":{"y":2}})",
      R"({"eventType":"5_a","attributes":{"eventName":"a","data":{}},"data":{"x":tru}})",
      R"({"eventName":5,"data":{"x":tru}})",
      R"({"data":{"x":tru}})",
      R"({"eventName":"a","data":{"eventName":"b","data":{"x":1}},"eventName":null,"z":[1,]})",
      // broken outside data
      R"({"eventName":"a","junk":tru,"data":{}})",
  };
  EnvelopeReader full;
  for (const std::string& payload : payloads) {
    SCOPED_TRACE(payload);
    const auto expected = full.read(payload);
    auto got = reader_.read(payload, EnvelopeReader::Check::defer_data);
    if (got) {
      if (auto checked = reader_.check_data(); !checked) {
        got = tl::unexpected(checked.error());
      }
    }
    ASSERT_EQ(got.has_value(), expected.has_value())
        << (got ? expected.error().code : got.error().code);
    if (!got) {
      EXPECT_EQ(got.error().code, expected.error().code) << got.error().message;
      continue;
    }
    EXPECT_TRUE(reader_.data_checked());
    EXPECT_EQ(got->variant, expected->variant);
    EXPECT_EQ(got->event_name, expected->event_name);
    EXPECT_EQ(got->data_raw.data(), expected->data_raw.data());
    EXPECT_EQ(got->data_raw.size(), expected->data_raw.size());
    simdjson::ondemand::value data;
    if (expected->data_raw.empty()) {
      EXPECT_EQ(reader_.data().get(data), simdjson::NO_SUCH_FIELD);
      continue;
    }
    ASSERT_EQ(reader_.data().get(data), simdjson::SUCCESS);
    // The value data() hands out is the one data_raw spans (same first byte, same type).
    EXPECT_EQ(values::trim_right(data.raw_json_token()).substr(0, 1),
              expected->data_raw.substr(0, 1));
    if (expected->data_raw.front() == '{') {
      simdjson::ondemand::object object;
      ASSERT_EQ(data.get_object().get(object), simdjson::SUCCESS);
      std::string_view raw;
      ASSERT_EQ(object.raw_json().get(raw), simdjson::SUCCESS);
      EXPECT_EQ(values::trim_right(raw), expected->data_raw);
    }
  }
}

// The deferral is real: the envelope read alone accepts an E1 whose data is broken, and leaves
// it to check_data().
TEST_F(EnvelopeTest, DeferredDataIsLeftUnchecked) {
  const std::string payload = R"({"eventName":"a","data":{"x":tru},"eventId":"e"})";
  auto env = reader_.read(payload, EnvelopeReader::Check::defer_data);
  ASSERT_TRUE(env.has_value()) << env.error().message;
  EXPECT_EQ(env->event_id, "e");
  EXPECT_FALSE(reader_.data_checked());
  const auto checked = reader_.check_data();
  ASSERT_FALSE(checked.has_value());
  EXPECT_EQ(checked.error().code, "malformed-json");
  EXPECT_TRUE(reader_.data_checked());
  EXPECT_EQ(fails(payload).code, "malformed-json");  // Check::all
}

TEST_F(EnvelopeTest, NotAnObject) {
  for (const std::string payload : {"[\"an\", \"array\"]", "42", "\"pointsIssued\"", "null"}) {
    const auto error = fails(payload);
    EXPECT_EQ(error.code, "malformed-json") << payload;
    EXPECT_NE(error.message.find("not a JSON object"), std::string::npos) << error.message;
  }
}

// Text that merely starts like a JSON scalar is described as what it is, not as that scalar.
TEST_F(EnvelopeTest, TextThatStartsLikeAScalarIsNotJson) {
  for (const std::string payload :
       {"this is not json", "nothing here", "12 monkeys", "falsehood"}) {
    const auto error = fails(payload);
    EXPECT_EQ(error.code, "malformed-json") << payload;
    EXPECT_NE(error.message.find("not valid JSON"), std::string::npos) << error.message;
    EXPECT_EQ(error.message.find("boolean"), std::string::npos) << error.message;
  }
}

TEST_F(EnvelopeTest, InvalidUtf8) {
  for (const auto& payload : {
           std::string("{\"eventName\":\"x\",\"data\":{\"name\":\"\xff\"}}"),
           std::string("{\"eventName\":\"x\xc3\"}"),
           std::string("{\"eventName\":\"x\",\"n\":\"\xc0\xaf\"}"),      // overlong '/'
           std::string("{\"eventName\":\"x\",\"n\":\"\xed\xa0\x80\"}"),  // surrogate
       }) {
    EXPECT_EQ(fails(payload).code, "encoding");
  }
  // Non-ASCII text that is valid UTF-8 is fine.
  EXPECT_EQ(
      ok("{\"eventName\":\"x\",\"data\":{\"firstName\":\"\xe8\x8a\xb1\xe5\xad\x90\"}}").event_name,
      "x");
}

TEST_F(EnvelopeTest, NoRecognisableEnvelope) {
  for (const auto& payload : {
           std::string(R"({"eventId":"no-name","orgId":50001,"data":{}})"),
           std::string(R"({"eventName":"","eventId":"no-name-0001"})"),
           std::string(R"({"eventName":"   "})"),
           std::string(R"({"eventName":7})"),
           std::string(R"({"eventName":null,"data":{"x":1}})"),
           std::string(R"({"body":{"eventId":"1"}})"),
           std::string(R"({"data":{"eventName":""},"errors":null})"),
           std::string(R"({"eventId":"1","actionType":"START","attributes":{"data":{}}})"),
           std::string(R"({})"),
       }) {
    EXPECT_EQ(fails(payload).code, "envelope") << payload;
  }
}

TEST_F(EnvelopeTest, MessagesCarryNoFieldValues) {
  for (const auto& payload : {
           std::string(R"({"email":"jane.doe@example.com","mobile":"15555550100"})"),
           std::string(
               R"({"eventName":"x","email":"jane.doe@example.com","mobile":15555550100 1})"),
           std::string("{\"email\":\"jane.doe@example.com\",\"n\":\"\xff\"}"),
       }) {
    const auto error = fails(payload);
    EXPECT_EQ(error.message.find("example.com"), std::string::npos) << error.message;
    EXPECT_EQ(error.message.find("5555"), std::string::npos) << error.message;
  }
}

TEST_F(EnvelopeTest, ReaderIsReusedAcrossSizes) {
  std::string big = R"({"eventName":"big","data":{"items":[)";
  for (int i = 0; i < 5000; ++i) {
    big += (i == 0 ? "" : ",") + std::string(R"({"sku":"SKU-)") + std::to_string(i) + R"("})";
  }
  big += "]}}";
  const Envelope b = ok(big);
  EXPECT_EQ(b.event_name, "big");
  EXPECT_EQ(b.data_raw.size(), big.size() - 27);
  const Envelope s = ok(R"({"eventName":"small","data":{"a":1}})");
  EXPECT_EQ(s.event_name, "small");
  EXPECT_EQ(s.data_raw, R"({"a":1})");
  EXPECT_EQ(fails("{").code, "malformed-json");
  EXPECT_EQ(ok(R"({"eventName":"after-error"})").event_name, "after-error");
}

std::vector<std::string> read_lines(const std::string& relative) {
  const char* root = std::getenv("BRIDGE_SOURCE_DIR");
  EXPECT_NE(root, nullptr) << "BRIDGE_SOURCE_DIR is not set (run through ctest)";
  std::vector<std::string> lines;
  if (root == nullptr) {
    return lines;
  }
  std::ifstream in(std::string(root) + "/" + relative);
  EXPECT_TRUE(in.good()) << relative;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  return lines;
}

TEST_F(EnvelopeTest, EverySampleEventReads) {
  const auto lines = read_lines("config/samples/capillary-events.jsonl");
  ASSERT_GE(lines.size(), 30U);
  std::set<EnvelopeVariant> variants;
  std::set<std::string> ids;
  std::set<std::string> names;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE("line " + std::to_string(i + 1));
    const Envelope e = ok(lines[i]);
    variants.insert(e.variant);
    names.insert(std::string(e.event_name));
    EXPECT_FALSE(e.event_name.empty());
    EXPECT_FALSE(e.event_id.empty());
    EXPECT_TRUE(ids.insert(std::string(e.event_id)).second) << "duplicate eventId " << e.event_id;
    EXPECT_TRUE(e.has_org_id);
    EXPECT_EQ(e.org_id, 50001);
    EXPECT_TRUE(e.has_created_at);
    EXPECT_GT(e.created_at_ms, 1'700'000'000'000);
    EXPECT_FALSE(e.data_raw.empty());
    EXPECT_EQ(e.data_raw.front(), '{');
    EXPECT_TRUE(within(payload_, e.event_raw));
  }
  EXPECT_EQ(variants.size(), 5U) << "every envelope variant should have a sample";
  for (const char* name : {"customerAdded", "customerUpdated", "transactionAdded", "pointsIssued",
                           "pointsRedeemed", "pointsExpired", "tierUpgraded", "tierDowngraded",
                           "rewardIssued", "CouponIssue", "CouponRedeem", "badgeEarned"}) {
    EXPECT_TRUE(names.count(name)) << name;
  }
}

TEST_F(EnvelopeTest, EveryMalformedSampleIsRejected) {
  for (const auto& line : read_lines("config/samples/malformed.jsonl")) {
    const auto error = fails(line);
    EXPECT_TRUE(error.code == "malformed-json" || error.code == "encoding" ||
                error.code == "envelope")
        << error.code;
  }
}

// Found by values_fuzz: a positive epoch below half a millisecond rounded to 0 and was taken as
// 1970-01-01T00:00:00Z, where the integer 0 is refused as not a time.
TEST_F(EnvelopeTest, EpochThatRoundsToZeroIsNotATime) {
  for (const char* created : {"5e-9", "0.0000001", "\"4e-7\"", "0"}) {
    const Envelope e = ok(std::string(R"({"eventName":"x","createdAt":)") + created + "}");
    EXPECT_FALSE(e.has_created_at) << created << " -> " << e.created_at_ms;
  }
}

// Found by values_fuzz (UBSan: signed overflow in the formatters' day arithmetic): the
// formatters answer 0 for every epoch outside the years 0000-9999, down to the int64 limits.
TEST(ValuesFormatTest, EpochsAtTheInt64LimitsAreOutOfRange) {
  char buf[values::kMaxTimeText];
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(values::format_utc_ms(kMin, buf), 0U);
  EXPECT_EQ(values::format_utc_ms(kMin + 86'000'000, buf), 0U);
  EXPECT_EQ(values::format_utc_ms(kMax, buf), 0U);
  EXPECT_EQ(values::format_instant({kMax, 330, false}, buf), 0U);
  EXPECT_EQ(values::format_instant({kMin, -330, false}, buf), 0U);
  EXPECT_EQ(values::format_instant({kMin, 0, true}, buf), 0U);
}

TEST(EnvelopeVariantTest, Names) {
  EXPECT_EQ(to_string(EnvelopeVariant::e1_flat), "E1");
  EXPECT_EQ(to_string(EnvelopeVariant::e5_raw), "E5");
  EXPECT_EQ(to_string(OutputKind::experience_event), "experience_event");
}

}  // namespace
}  // namespace transforms

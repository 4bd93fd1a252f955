// The XDM toolkit shared by the catalogue and the mapping transform: the JSON writer's
// no-null/no-empty rule and escaping, UUIDv5 `_id`s against independently computed values,
// identity normalisation, time formats, and the shared settings' errors with line:column.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "bridge/core/diagnostics.h"
#include "transforms/api/values.h"
#include "transforms/xdm/identity.h"
#include "transforms/xdm/message.h"
#include "transforms/xdm/settings.h"
#include "transforms/xdm/uuid.h"
#include "transforms/xdm/writer.h"

namespace transforms::xdm {
namespace {

TEST(WriterTest, EmptyContainersAndBlankStringsVanish) {
  Writer w;
  w.begin_object();
  w.string("a", "x");
  w.begin_object("empty");
  w.begin_array("none");
  w.string("");
  w.end_array();
  w.string("blank", "  ");
  w.end_object();
  w.begin_array("list");
  w.begin_object();
  w.end_object();
  w.integer(3);
  w.end_array();
  w.number("nan", std::numeric_limits<double>::quiet_NaN());
  w.end_object();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.view(), R"({"a":"x","list":[3]})");
}

TEST(WriterTest, EscapesWhatJsonRequiresAndKeepsUnicode) {
  Writer w;
  w.begin_object();
  w.string("s", "quote \" backslash \\ tab \t nul-ish \x01 石川 é");
  w.end_object();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.view(), "{\"s\":\"quote \\\" backslash \\\\ tab \\t nul-ish \\u0001 石川 é\"}");
}

TEST(WriterTest, SplicesNumbersTokensAndSubtreesAsWritten) {
  Writer w;
  w.begin_object();
  w.number_text("a", "89000.0");
  w.number_text("b", "1.7193E12");
  w.string_token("c", R"("caf\u00e9")", "café");
  w.string_token("d", R"("  ")", "  ");
  w.raw("e", R"({"k":[1,2]})");
  w.number("f", 0.1);
  w.boolean("g", false);
  w.end_object();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.view(),
            R"({"a":89000.0,"b":1.7193E12,"c":"caf\u00e9","e":{"k":[1,2]},"f":0.1,"g":false})");
}

TEST(WriterTest, UnbalancedNestingIsNotOk) {
  Writer w;
  w.begin_object();
  w.string("a", "x");
  EXPECT_FALSE(w.ok());
  w.end_array();
  EXPECT_FALSE(w.ok());
  w.reset();
  w.begin_object();
  w.end_object();
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.view(), "");  // an empty root object is left out too
}

// Expected values computed independently: Python's uuid.uuid5(uuid.NAMESPACE_URL, name).
TEST(UuidTest, Version5MatchesAnIndependentImplementation) {
  UuidV5 uuid;
  char out[UuidV5::kTextSize];
  ASSERT_TRUE(uuid.make(kUrlNamespace,
                        {"capillary:", "50001", ":", "4647d7b7-61c0-480f-8dfe-40ff87f8a445"}, out));
  EXPECT_EQ(std::string_view(out, sizeof(out)), "d1f48bf6-2e3b-5a5d-ad96-b3426bf218bc");
  ASSERT_TRUE(uuid.make(kUrlNamespace, {"capillary:50001:78871533-aaaa", ":1"}, out));
  EXPECT_EQ(std::string_view(out, sizeof(out)), "cd3cccbd-db11-5242-9830-ab37e4113275");
  ASSERT_TRUE(uuid.make(kUrlNamespace, {"capillary:1231:ABC-87484sdas&$"}, out));
  EXPECT_EQ(std::string_view(out, sizeof(out)), "48835c3f-23a6-56b9-8a8d-f4783610e6d1");
}

TEST(IdentityTest, EmailRules) {
  std::string out;
  EXPECT_TRUE(normalize_email(" Asha.RAO@Example.IN ", out));
  EXPECT_EQ(out, "asha.rao@example.in");
  for (const char* bad : {"testuserfortata", "a@b", "a@@b.com", "@b.com", "a b@c.com", "a@b.",
                          "e59baa6df5a41d818608688fe3dcaccc", ""}) {
    EXPECT_FALSE(normalize_email(bad, out)) << bad;
    EXPECT_TRUE(out.empty()) << bad;
  }
}

// reference/xdm-mapping.md §7.1: a national number never becomes a wrong international one.
TEST(IdentityTest, PhoneRules) {
  std::string out;
  struct Case {
    const char* value;
    const char* code;  // the org's calling code; "" none
    PhoneCheck check;
    const char* e164;
  };
  const Case cases[] = {
      // International form: + or 00, 8-15 digits.
      {"+91 96500-00000", "", PhoneCheck::ok, "+919650000000"},
      {"+91 96500-00000", "44", PhoneCheck::ok, "+919650000000"},
      {"0091 9650000000", "", PhoneCheck::ok, "+919650000000"},
      {"+4930123456", "", PhoneCheck::ok, "+4930123456"},
      {"+1234567", "", PhoneCheck::not_e164, ""},
      {"+1234567890123456", "", PhoneCheck::not_e164, ""},
      // National, no code configured: 11-15 digits stand; shorter is not a phone identity.
      {"919650000000", "", PhoneCheck::ok, "+919650000000"},
      {"9820054321", "", PhoneCheck::not_e164, ""},
      {"09820054321", "", PhoneCheck::not_e164, ""},  // no calling code starts with 0
      {"+0919650000000", "", PhoneCheck::not_e164, ""},
      // National with the org's code: trunk 0 dropped; the code in front unless already there.
      {"9820054321", "91", PhoneCheck::ok, "+919820054321"},
      {"09820054321", "91", PhoneCheck::ok, "+919820054321"},
      {"919820054321", "91", PhoneCheck::ok, "+919820054321"},
      {"(020) 7946 0958", "44", PhoneCheck::ok, "+442079460958"},
      {"2025550143", "1", PhoneCheck::ok, "+12025550143"},
      {"12025550143", "1", PhoneCheck::ok, "+12025550143"},
      {"12345", "91", PhoneCheck::not_e164, ""},
      {"9198200543", "91", PhoneCheck::ok, "+919198200543"},
      // Not phone numbers at all.
      {"91965x000000", "", PhoneCheck::invalid, ""},
      {"9820054321 ext 5", "91", PhoneCheck::invalid, ""},
      {"e59baa6df5a41d818608688fe3dcaccc", "", PhoneCheck::invalid, ""},
      {"", "91", PhoneCheck::invalid, ""},
      {"--", "91", PhoneCheck::invalid, ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(normalize_phone(c.value, c.code, out), c.check) << c.value << " code " << c.code;
    EXPECT_EQ(out, c.e164) << c.value << " code " << c.code;
  }
  EXPECT_EQ(phone_warning(PhoneCheck::not_e164, "9820054321"), "phone-not-e164");
  EXPECT_EQ(phone_warning(PhoneCheck::invalid, "e59baa6df5a41d818608688fe3dcaccc"),
            "identity-hashed");
  EXPECT_EQ(phone_warning(PhoneCheck::invalid, "abc"), "identity-invalid-phone");
  EXPECT_EQ(phone_warning(PhoneCheck::ok, "+4930123456"), "");
}

TEST(IdentityTest, CustomerIdsStayExact) {
  std::string out;
  EXPECT_TRUE(normalize_customer_id("84793759919", out));
  EXPECT_EQ(out, "84793759919");
  EXPECT_TRUE(normalize_customer_id("379499720.0", out));
  EXPECT_EQ(out, "379499720");
  EXPECT_TRUE(normalize_customer_id("18446744073709551615", out));  // beyond int64: still exact
  EXPECT_EQ(out, "18446744073709551615");
  for (const char* bad : {"1.5", "-3", "0", "abc", "", "1e9"}) {
    EXPECT_FALSE(normalize_customer_id(bad, out)) << bad;
  }
}

TEST(IdentityTest, MapHasExactlyOnePrimary) {
  OutputSettings s;
  s.customer_id_format = CustomerIdFormat::org_and_customer_id;
  Identities ids;
  ids.customer_id = "42";
  ids.email = "a@b.com";
  ids.add_card("C1");
  ids.add_card(" C1 ");
  ids.add_card("C2");
  Writer w;
  w.begin_object();
  write_identity_map(w, s, 50001, ids);
  w.end_object();
  EXPECT_EQ(
      w.view(),
      R"({"identityMap":{"capillaryCustomerId":[{"id":"50001:42","authenticatedState":"authenticated","primary":true}],)"
      R"("Email":[{"id":"a@b.com","authenticatedState":"ambiguous","primary":false}],)"
      R"("capillaryCardNumber":[{"id":"C1","authenticatedState":"ambiguous","primary":false},)"
      R"({"id":"C2","authenticatedState":"ambiguous","primary":false}]}})");
}

TEST(ValuesTest, TimesFormatAsRfc3339) {
  char buf[values::kMaxTimeText];
  const auto text = [&](std::size_t n) { return std::string(buf, n); };
  EXPECT_EQ(text(values::format_utc_ms(1719820044783, buf)), "2024-07-01T07:47:24.783Z");
  // reference/xdm-mapping.md §7.7: UTC with milliseconds whatever offset the input carried.
  EXPECT_EQ(text(values::format_end_of_day({2025, 7, 1}, 330, buf)), "2025-07-01T18:29:59.000Z");
  EXPECT_EQ(text(values::format_end_of_day({2025, 7, 1}, 0, buf)), "2025-07-01T23:59:59.000Z");
  EXPECT_EQ(text(values::format_end_of_day({2025, 7, 1}, -480, buf)), "2025-07-02T07:59:59.000Z");
  const auto iso = values::parse_iso_instant("2024-07-01T13:40:26.172+0000");
  ASSERT_TRUE(iso);
  EXPECT_EQ(text(values::format_instant(*iso, buf)), "2024-07-01T13:40:26.172Z");
  const auto ist = values::parse_iso_instant("2024-07-01T19:10:26+05:30");
  ASSERT_TRUE(ist);
  EXPECT_EQ(text(values::format_instant(*ist, buf)), "2024-07-01T13:40:26.000Z");
  const auto no_colon = values::parse_iso_instant("2024-07-01T19:10:26.5+0530");
  ASSERT_TRUE(no_colon);
  EXPECT_EQ(text(values::format_instant(*no_colon, buf)), "2024-07-01T13:40:26.500Z");
  EXPECT_EQ(*values::epoch_ms_from_text("1.7193E12"), 1719300000000);
  EXPECT_EQ(*values::epoch_ms_from_text("1693333333"), 1693333333000);  // seconds
  EXPECT_FALSE(values::parse_iso_instant("2024-08-05 01:30:00"));       // no offset: ambiguous
  EXPECT_FALSE(values::parse_date("2025-02-30"));
  EXPECT_EQ(values::format_utc_ms(400'000'000'000'000, buf), 0U);  // year > 9999
  EXPECT_EQ(values::parse_utc_offset("+0530"), 330);
  EXPECT_EQ(values::parse_utc_offset("-08:00"), -480);
  EXPECT_FALSE(values::parse_utc_offset("Asia/Kolkata"));
}

TEST(SettingsTest, EveryProblemIsReportedWithItsPosition) {
  const YAML::Node settings = YAML::Load(R"(tenant: _acme
targets: {profile: nowhere, experience_event: events}
identity: {customer_id_format: "{id}", namespaces: {email: "E mail", fax: F}}
org_timezones: {abc: "+05:30", 50001: "Asia/Kolkata"}
org_phone_country_codes: {50001: "+91", 50002: "091", 50003: 1234, 50004: "44"}
default_currency: usd
limits: {experience_event_bytes: -1, oversize: maybe}
colour: blue
)");
  bridge::core::Diagnostics diags("route.yaml");
  Target events;
  events.name = "events";
  const TargetLookup lookup = [&](std::string_view name) -> const Target* {
    return name == "events" ? &events : nullptr;
  };
  const BuildOptions options;
  const FactoryContext ctx{settings, diags, lookup, options};
  OutputSettings out;
  EXPECT_FALSE(parse_output_settings(ctx, "capillary", {}, out));
  const std::string report = diags.to_string();
  for (const char* expected :
       {"route.yaml:1:9: capillary: tenant '_acme'",
        "route.yaml:2:20: capillary: unknown target 'nowhere'",
        "3:32: capillary: identity.customer_id_format '{id}'", "'E mail' contains blanks",
        "unknown identity 'fax'", "'abc' is not an orgId", "'Asia/Kolkata' is not a UTC offset",
        "route.yaml:5:34: capillary: '+91' is not a calling code",
        "route.yaml:5:48: capillary: '091' is not a calling code",
        "route.yaml:5:62: capillary: '1234' is not a calling code", "`default_currency` 'usd'",
        "limits.experience_event_bytes must be a positive", "limits.oversize 'maybe'",
        "route.yaml:8:1: capillary: unknown setting 'colour'"}) {
    EXPECT_NE(report.find(expected), std::string::npos) << "missing: " << expected << "\n"
                                                        << report;
  }
}

TEST(MessageTest, WrapsABodyForPlatform) {
  Target t;
  t.dataset_id = "ds";
  t.schema_ref = "https://ns.adobe.com/acme/schemas/1";
  Writer w;
  write_streaming_message(w, t, {"ORG@AdobeOrg", "capillary-bridge"}, R"({"_id":"x"})");
  EXPECT_EQ(
      w.view(),
      R"({"header":{"schemaRef":{"id":"https://ns.adobe.com/acme/schemas/1","contentType":"application/vnd.adobe.xed-full+json;version=1"},)"
      R"("imsOrgId":"ORG@AdobeOrg","datasetId":"ds","source":{"name":"capillary-bridge"}},)"
      R"("body":{"xdmMeta":{"schemaRef":{"id":"https://ns.adobe.com/acme/schemas/1","contentType":"application/vnd.adobe.xed-full+json;version=1"}},)"
      R"("xdmEntity":{"_id":"x"}}})");
}

// The sink frames each message from fixed parts: they give the bytes write_streaming_message
// writes, for a full target, a bare one (empty header fields left out) and escaped ids.
TEST(MessageTest, FramingIsTheMessageAroundTheEntity) {
  Target full;
  full.dataset_id = "ds";
  full.schema_ref = "https://ns.adobe.com/acme/schemas/1";
  full.flow_id = "flow";
  Target bare;
  bare.content_type.clear();
  Target odd;
  odd.dataset_id = "d\"s\\";
  for (const Target* t : {&full, &bare, &odd}) {
    for (const MessageContext context :
         {MessageContext{"ORG@AdobeOrg", "capillary-bridge"}, MessageContext{"", ""}}) {
      for (const std::string_view entity : {R"({"_id":"x"})", "{}", R"({"a":{"b":[{}]}})"}) {
        Writer w;
        write_streaming_message(w, *t, context, entity);
        const MessageFraming f = streaming_framing(*t, context);
        EXPECT_EQ(f.prefix + std::string(entity) + f.suffix, w.view());
      }
    }
  }
}

}  // namespace
}  // namespace transforms::xdm

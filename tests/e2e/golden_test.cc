// Golden tests of the transform catalogue, through the real binary: for every directory
// tests/golden/<group>/<case>/ with an input.jsonl, `capillary-bridge transform -c
// tests/golden/<group>/bridge.yaml input.jsonl` must print exactly expected.jsonl on stdout and
// rejects.jsonl on stderr. Every output is also checked against the project's XDM contract
// schemas and Platform's extra rules (tests/contract), and — where ../shared/xdm exists (CI) —
// against the public XDM schemas.
//
// After an intended change of output, regenerate with BRIDGE_UPDATE_GOLDEN=1 and review the diff.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/contract/contract.h"
#include "tests/harness/process.h"

namespace {

namespace fs = std::filesystem;
using bridge::harness::ChildOptions;
using bridge::harness::ChildProcess;
using bridge::harness::read_file;
using bridge::harness::TempDir;

struct RunResult {
  std::string out;
  std::string err;
  int code = -1;
};

RunResult run_transform(const fs::path& config, const fs::path& input) {
  TempDir dir("golden");
  ChildOptions options;
  options.args = {bridge::harness::bridge_binary(), "transform", "-c", config.string(),
                  input.string()};
  options.stdout_path = dir.file("out");
  options.stderr_path = dir.file("err");
  ChildProcess child(options);
  const auto status = child.wait(std::chrono::seconds(60));
  RunResult r;
  r.out = read_file(dir.file("out"));
  r.err = read_file(dir.file("err"));
  r.code = status && status->exited ? status->code : -1;
  return r;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

struct Case {
  std::string name;  // group/case
  fs::path dir;
  fs::path config;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  const fs::path root = fs::path(bridge::harness::source_dir()) / "tests" / "golden";
  for (const auto& group : fs::directory_iterator(root)) {
    if (!group.is_directory() || !fs::exists(group.path() / "bridge.yaml")) {
      continue;
    }
    for (const auto& c : fs::directory_iterator(group.path())) {
      if (c.is_directory() && fs::exists(c.path() / "input.jsonl")) {
        out.push_back({group.path().filename().string() + "/" + c.path().filename().string(),
                       c.path(), group.path() / "bridge.yaml"});
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const Case& a, const Case& b) { return a.name < b.name; });
  return out;
}

// The case folders in the repository when this was written (tests/golden/capillary: 17 events,
// tests/golden/mapping: 1). Adding cases is fine; finding fewer means cases() lost some.
constexpr std::size_t kKnownCases = 18;

// A parameterized suite with no parameters passes with zero tests: this one fails instead when
// the case discovery finds nothing (wrong source dir, renamed input file) or fewer than known,
// and when a folder of a group is not a case.
TEST(GoldenCases, EveryCaseFolderIsFound) {
  const std::vector<Case> found = cases();
  EXPECT_GE(found.size(), kKnownCases) << "golden cases found under tests/golden";
  const fs::path root = fs::path(bridge::harness::source_dir()) / "tests" / "golden";
  std::size_t folders = 0;
  for (const auto& group : fs::directory_iterator(root)) {
    if (!group.is_directory()) {
      continue;
    }
    EXPECT_TRUE(fs::exists(group.path() / "bridge.yaml"))
        << group.path() << " holds no bridge.yaml, so none of its cases run";
    for (const auto& c : fs::directory_iterator(group.path())) {
      if (c.is_directory()) {
        ++folders;
        EXPECT_TRUE(fs::exists(c.path() / "input.jsonl"))
            << c.path() << " has no input.jsonl, so it is not run";
      }
    }
  }
  EXPECT_EQ(found.size(), folders) << "every case folder is a case";
}

class GoldenTest : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    const fs::path src = bridge::harness::source_dir();
    contract_ = std::make_unique<tests::contract::Contract>(
        tests::contract::Contract::load(src / "bridge" / "xed" / "schemas"));
    tenant_ = std::make_unique<tests::contract::TenantFields>(
        tests::contract::TenantFields::load(tests::contract::tenant_fields_file()));
    const char* shared = std::getenv("BRIDGE_SHARED_XDM_DIR");
    public_xdm_ = std::make_unique<std::optional<tests::contract::PublicXdm>>(
        tests::contract::PublicXdm::load_if_present(
            shared != nullptr ? fs::path(shared) : src / ".." / "shared" / "xdm"));
  }
  static void TearDownTestSuite() {
    contract_.reset();
    tenant_.reset();
    public_xdm_.reset();
  }

  static std::unique_ptr<tests::contract::Contract> contract_;
  static std::unique_ptr<tests::contract::TenantFields> tenant_;
  static std::unique_ptr<std::optional<tests::contract::PublicXdm>> public_xdm_;
};

std::unique_ptr<tests::contract::Contract> GoldenTest::contract_;
std::unique_ptr<tests::contract::TenantFields> GoldenTest::tenant_;
std::unique_ptr<std::optional<tests::contract::PublicXdm>> GoldenTest::public_xdm_;

TEST_P(GoldenTest, MatchesExpectedAndTheXdmContract) {
  const Case& c = GetParam();
  const RunResult first = run_transform(c.config, c.dir / "input.jsonl");
  ASSERT_EQ(first.code, 0) << first.err;

  if (std::getenv("BRIDGE_UPDATE_GOLDEN") != nullptr) {
    bridge::harness::write_file((c.dir / "expected.jsonl").string(), first.out);
    bridge::harness::write_file((c.dir / "rejects.jsonl").string(), first.err);
  }
  const std::string expected = read_file((c.dir / "expected.jsonl").string());
  const std::string rejects = read_file((c.dir / "rejects.jsonl").string());
  ASSERT_FALSE(expected.empty() && rejects.empty())
      << c.name << ": no expected.jsonl / rejects.jsonl; run with BRIDGE_UPDATE_GOLDEN=1";
  EXPECT_EQ(first.out, expected) << c.name << ": stdout differs from expected.jsonl";
  EXPECT_EQ(first.err, rejects) << c.name << ": stderr differs from rejects.jsonl";

  // Determinism: a second run is byte-identical.
  const RunResult second = run_transform(c.config, c.dir / "input.jsonl");
  EXPECT_EQ(second.out, first.out) << c.name << ": output differs between two runs";
  EXPECT_EQ(second.err, first.err);

  // Every output: a Platform streaming message whose entity meets the contract.
  simdjson::dom::parser parser;
  std::map<std::string, std::string> entity_by_id;  // _id -> entity: one event, one body
  std::size_t index = 0;
  for (const std::string& line : lines(first.out)) {
    ++index;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << c.name << " output " << index;
    std::string_view schema;
    simdjson::dom::element entity;
    ASSERT_EQ(doc.at_pointer("/header/schemaRef/id").get(schema), simdjson::SUCCESS);
    ASSERT_EQ(doc.at_pointer("/body/xdmEntity").get(entity), simdjson::SUCCESS);
    std::string_view meta_schema;
    ASSERT_EQ(doc.at_pointer("/body/xdmMeta/schemaRef/id").get(meta_schema), simdjson::SUCCESS);
    EXPECT_EQ(meta_schema, schema);
    // The target decides the kind (tests/golden/*/bridge.yaml: the events schema id starts
    // 9a8b7c6d, the profiles one 5e8f1a2b); an event must have an _id, a profile may.
    const bool is_event = schema.find("/9a8b7c6d") != std::string_view::npos;
    ASSERT_TRUE(is_event || schema.find("/5e8f1a2b") != std::string_view::npos)
        << c.name << " output " << index << ": unknown target schema " << schema;
    const auto kind =
        is_event ? tests::contract::Kind::experience_event : tests::contract::Kind::profile;
    const std::string body = simdjson::minify(entity);
    for (const auto& problem : contract_->check(kind, body)) {
      ADD_FAILURE() << c.name << " output " << index << ": " << problem;
    }
    // The catalogue's tenant fields are the ones setup declares to Platform.
    if (c.dir.parent_path().filename() == "capillary") {
      for (const auto& problem : tenant_->check(kind, body)) {
        ADD_FAILURE() << c.name << " output " << index << " (tenant-fields.json): " << problem;
      }
    }
    if (*public_xdm_) {
      for (const auto& problem : (*public_xdm_)->check(kind, body)) {
        ADD_FAILURE() << c.name << " output " << index << " (public XDM): " << problem;
      }
    }
    if (is_event) {
      std::string_view id;
      ASSERT_EQ(entity["_id"].get(id), simdjson::SUCCESS);
      const auto [it, inserted] = entity_by_id.emplace(std::string(id), body);
      // The same Capillary event in another envelope variant must map to the same body.
      EXPECT_TRUE(inserted || it->second == body)
          << c.name << ": two different bodies share _id " << id;
    }
  }

  // Every reject names a reason; none quotes personal data from the samples.
  for (const std::string& line : lines(first.err)) {
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << c.name << " stderr: " << line;
    std::string_view reason;
    ASSERT_EQ(doc["reason"].get(reason), simdjson::SUCCESS) << line;
    static const std::set<std::string_view> kReasons = {
        "envelope",  "identity",       "unmapped",      "encoding",
        "too-large", "privacy-delete", "invalid-field", "malformed-json"};
    EXPECT_TRUE(kReasons.count(reason) == 1) << c.name << ": unknown reason in " << line;
    EXPECT_EQ(line.find("@example"), std::string::npos) << "an email in a reject: " << line;
    EXPECT_EQ(line.find("5555550"), std::string::npos) << "a phone in a reject: " << line;
  }
}

INSTANTIATE_TEST_SUITE_P(Catalogue, GoldenTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           std::string n = param_info.param.name;
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) {
                               ch = '_';
                             }
                           }
                           return n;
                         });

}  // namespace

namespace {

// The command itself: events from stdin, a bad config exits 2 with file:line:col, and a reject
// names reason and event id on stderr while stdout stays a clean stream of messages.
TEST(TransformCommandTest, ReadsStdinAndExitsTwoOnBadConfig) {
  TempDir dir("transform-cmd");
  const std::string bad = dir.file("bad.yaml");
  bridge::harness::write_file(bad, R"(kafka: {brokers: 127.0.0.1:9, topics: [t]}
dead_letter: {topic: dlq}
routes:
  - transform: capillary
    settings: {tenant: acme, targets: {profile: missing}}
)");
  {
    ChildOptions o;
    o.args = {bridge::harness::bridge_binary(), "transform", "-c", bad};
    o.stdout_path = dir.file("bad.out");
    o.stderr_path = dir.file("bad.err");
    ChildProcess child(o);
    const auto st = child.wait(std::chrono::seconds(30));
    ASSERT_TRUE(st && st->exited);
    EXPECT_EQ(st->code, 2);
    EXPECT_NE(read_file(dir.file("bad.err")).find("bad.yaml:5:"), std::string::npos)
        << read_file(dir.file("bad.err"));
  }
  const fs::path config =
      fs::path(bridge::harness::source_dir()) / "tests" / "golden" / "capillary" / "bridge.yaml";
  const std::string input = dir.file("in.jsonl");
  bridge::harness::write_file(
      input,
      R"({"eventName":"badgeEarned","eventId":"b-1","orgId":50001,"createdAt":1740000000000,"data":{"customerIdentifiers":{"customerId":7},"badgeId":"B1","earnId":"E1"}})"
      "\n"
      R"({"eventName":"streakSomething","eventId":"b-2","orgId":50001,"createdAt":1740000000000,"data":{}})"
      "\nnot json\n");
  ChildOptions o;
  o.args = {"/bin/sh", "-c",
            bridge::harness::bridge_binary() + " transform -c " + config.string() + " < " + input};
  o.stdout_path = dir.file("out");
  o.stderr_path = dir.file("err");
  ChildProcess child(o);
  const auto st = child.wait(std::chrono::seconds(30));
  ASSERT_TRUE(st && st->exited);
  EXPECT_EQ(st->code, 0);
  const auto out = lines(read_file(dir.file("out")));
  ASSERT_EQ(out.size(), 1U) << read_file(dir.file("out"));
  EXPECT_NE(out[0].find(R"("eventType":"loyalty.badgeEarned")"), std::string::npos);
  const auto err = lines(read_file(dir.file("err")));
  ASSERT_EQ(err.size(), 2U) << read_file(dir.file("err"));
  EXPECT_NE(err[0].find(R"("reason":"unmapped")"), std::string::npos) << err[0];
  EXPECT_NE(err[0].find(R"("eventId":"b-2")"), std::string::npos) << err[0];
  EXPECT_NE(err[1].find(R"("line":3,"reason":"malformed-json")"), std::string::npos) << err[1];
}

}  // namespace

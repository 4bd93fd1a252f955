// The Capillary catalogue behind a real broker: every golden input event (all 17 catalogue
// events, five envelope variants, the edge cases) is produced to Kafka, `capillary-bridge run`
// maps them, and the file sink must hold exactly the XDM bodies of the golden expected.jsonl
// files while the dead-letter topic holds exactly the golden rejects, by reason. Offsets end at
// the high watermarks.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "tests/harness/fixture.h"

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

namespace fs = std::filesystem;

std::vector<std::string> file_lines(const fs::path& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      out.push_back(line);
    }
  }
  return out;
}

// The value of "key":"…" in a flat JSON line written by the transform command (no escapes in
// the values we look up).
std::string json_field(const std::string& line, const std::string& key) {
  const std::string marker = "\"" + key + "\":\"";
  const auto at = line.find(marker);
  if (at == std::string::npos) {
    return {};
  }
  const auto start = at + marker.size();
  return line.substr(start, line.find('"', start) - start);
}

class CatalogueTest : public BrokerTest {};

TEST_F(CatalogueTest, GoldenEventsThroughARealBrokerMatchTheGoldenOutputs) {
  const fs::path golden = fs::path(source_dir()) / "tests" / "golden" / "capillary";
  std::vector<ProduceMessage> messages;
  std::multiset<std::string> expected_bodies;
  std::map<std::string, int> expected_reasons;
  static constexpr std::string_view kEntity = "\"xdmEntity\":";
  for (const auto& dir : fs::directory_iterator(golden)) {
    if (!dir.is_directory()) {
      continue;
    }
    int n = 0;
    for (auto& line : file_lines(dir.path() / "input.jsonl")) {
      messages.push_back({fmt::format("{}-{}", dir.path().filename().string(), n++),
                          std::move(line),
                          {},
                          RD_KAFKA_PARTITION_UA});
    }
    for (const auto& line : file_lines(dir.path() / "expected.jsonl")) {
      const auto at = line.find(kEntity);
      ASSERT_NE(at, std::string::npos);
      expected_bodies.insert(
          line.substr(at + kEntity.size(), line.size() - at - kEntity.size() - 2));
    }
    for (const auto& line : file_lines(dir.path() / "rejects.jsonl")) {
      ++expected_reasons[json_field(line, "reason")];
    }
  }
  ASSERT_GT(messages.size(), 300U);

  const std::string topic = unique_name("it.capillary");
  const std::string dlq = unique_name("it.dlq");
  const std::string group = unique_name("it.group");
  create_topics(topic, 3, dlq);
  broker().produce(topic, messages);

  BridgeConfig cfg = bridge_config(topic, dlq, group);
  // The route settings of tests/golden/capillary/bridge.yaml (keep the two alike).
  cfg.targets_and_routes_yaml = fmt::format(R"(targets:
  profiles:
    dataset_id: 6650a1b2c3d4e5f6a7b8c9d0
    schema_ref: https://ns.adobe.com/acme/schemas/5e8f1a2b3c4d5e6f7a8b9c0d1e2f3a4b
  events:
    dataset_id: 6650a1b2c3d4e5f6a7b8c9d1
    schema_ref: https://ns.adobe.com/acme/schemas/9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d

routes:
  - topics: [{}]
    transform: capillary
    settings:
      tenant: acme
      targets: {{profile: profiles, experience_event: events}}
      org_timezones: {{50001: "+05:30"}}
      org_phone_country_codes: {{50009: "91"}}
      default_currency: USD
)",
                                            yaml_quote(topic));
  BridgeProcess bridge(dir_, "bridge", cfg);
  bridge.start();

  std::size_t rejects = 0;
  for (const auto& [reason, n] : expected_reasons) {
    rejects += static_cast<std::size_t>(n);
  }
  std::vector<std::string> lines;
  const bool settled = wait_until(
      [&] {
        lines = read_ndjson(cfg.sink_path);
        return !bridge.running() ||
               (lines.size() >= expected_bodies.size() &&
                broker().high_watermarks(dlq).at(0) >= static_cast<std::int64_t>(rejects));
      },
      seconds(120), milliseconds(300));
  ASSERT_TRUE(bridge.running()) << bridge.log_tail();
  ASSERT_TRUE(settled) << "outputs " << lines.size() << "/" << expected_bodies.size()
                       << ", dead letters " << broker().high_watermarks(dlq).at(0) << "/" << rejects
                       << "\n"
                       << bridge.log_tail();
  const auto st = bridge.stop(seconds(60));
  ASSERT_TRUE(st && st->exited && st->code == 0) << bridge.log_tail();

  lines = read_ndjson(cfg.sink_path);
  const std::multiset<std::string> got(lines.begin(), lines.end());
  EXPECT_EQ(got.size(), expected_bodies.size());
  std::size_t differing = 0;
  for (const auto& body : expected_bodies) {
    if (got.count(body) != expected_bodies.count(body) && ++differing <= 5) {
      ADD_FAILURE() << "expected body missing or duplicated: " << body.substr(0, 400);
    }
  }
  EXPECT_EQ(differing, 0U);

  std::map<std::string, int> reasons;
  for (const auto& letter : broker().consume_all(dlq)) {
    ++reasons[letter.header("capillary-bridge.reason")];
  }
  EXPECT_EQ(reasons, expected_reasons);

  const auto hw = broker().high_watermarks(topic);
  const auto committed = broker().committed_offsets(group, topic);
  for (const auto& [p, high] : hw) {
    EXPECT_EQ(committed.at(p), high) << "partition " << p;
  }
}

}  // namespace
}  // namespace bridge::harness

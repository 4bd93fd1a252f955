// Guarantee 5 (bad input never stops the stream), through the real binary: 1,000 malformed
// records mixed among good ones (not JSON, truncated JSON, an event name no route accepts, a 2 MB
// payload, invalid UTF-8). Every good event is delivered, every bad one is in the dead-letter
// topic with the right capillary-bridge.reason, the process keeps running and exits 0 on SIGTERM.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <map>
#include <random>

#include "tests/harness/fixture.h"

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kReasonHeader = "capillary-bridge.reason";
constexpr const char* kSourceHeader = "capillary-bridge.source";

class MalformedInputTest : public BrokerTest {};

TEST_F(MalformedInputTest, BadRecordsAreDeadLetteredWithReasonAndTheStreamGoesOn) {
  constexpr int kPartitions = 4;
  constexpr int kGood = 5000;
  const std::string topic = unique_name("it.events");
  const std::string dlq = unique_name("it.dlq");
  const std::string group = unique_name("it.group");
  create_topics(topic, kPartitions, dlq);

  // Bad records are keyed "bad-<n>" so each dead letter maps back to its expected reason.
  std::map<std::string, std::string> expected_reason;  // key -> reason
  std::vector<ProduceMessage> messages;
  const auto add_bad = [&](std::string value, const std::string& reason) {
    const std::string key = fmt::format("bad-{:04}", expected_reason.size());
    expected_reason[key] = reason;
    messages.push_back({key, std::move(value), {}, RD_KAFKA_PARTITION_UA});
  };
  for (int i = 0; i < 300; ++i) {
    add_bad(fmt::format("this is not JSON at all #{}", i), "malformed-json");
  }
  for (int i = 0; i < 300; ++i) {
    const std::string full = make_event(fmt::format("e-trunc-{}", i));
    add_bad(full.substr(0, full.size() / 2 + static_cast<std::size_t>(i % 20)), "malformed-json");
  }
  for (int i = 0; i < 298; ++i) {
    add_bad(make_event(fmt::format("e-unknown-{}", i), "someUnknownEvent"), "unmapped");
  }
  for (int i = 0; i < 2; ++i) {
    // Valid JSON, a known event, 2 MB: over pipeline.max_event_bytes (1 MiB by default).
    std::string big = make_event(fmt::format("e-big-{}", i));
    big.insert(big.size() - 2,
               R"(,"padding":")" + std::string(std::size_t{2} * 1024 * 1024, 'p') + "\"");
    add_bad(std::move(big), "too-large");
  }
  for (int i = 0; i < 100; ++i) {
    // Valid JSON syntax, a known event, but bytes that are not UTF-8 inside a string.
    std::string bad = make_event(fmt::format("e-utf8-{}", i));
    const auto at = bad.find("B-");
    ASSERT_NE(at, std::string::npos);
    bad.insert(at + 2, i % 2 == 0 ? "\xff\xfe" : "\xc3\x28");
    add_bad(std::move(bad), "encoding");
  }
  ASSERT_EQ(expected_reason.size(), 1000U);

  std::vector<std::string> good_ids;
  for (int i = 0; i < kGood; ++i) {
    good_ids.push_back(fmt::format("e-good-{:05}", i));
    messages.push_back(
        {fmt::format("cust-{}", i % 101), make_event(good_ids.back()), {}, RD_KAFKA_PARTITION_UA});
  }
  std::mt19937_64 rng(test_seed());
  std::shuffle(messages.begin(), messages.end(), rng);
  broker().produce(topic, messages);

  BridgeConfig cfg = bridge_config(topic, dlq, group);
  cfg.route_events = {"transactionAdded", "customerAdded", "pointsIssued"};
  BridgeProcess bridge(dir_, "bridge", cfg);
  bridge.start();

  DeliveryCounter counter;
  const bool settled = wait_until(
      [&] {
        if (!bridge.running()) {
          return true;
        }
        counter = DeliveryCounter();
        counter.add_all(read_ndjson(cfg.sink_path));
        return counter.unique() >= good_ids.size() &&
               broker().high_watermarks(dlq).at(0) >=
                   static_cast<std::int64_t>(expected_reason.size());
      },
      seconds(180), milliseconds(500));
  ASSERT_TRUE(bridge.running()) << "the bridge stopped on bad input\n" << bridge.log_tail();
  EXPECT_TRUE(settled) << "good delivered: " << counter.unique() << "/" << good_ids.size()
                       << ", dead letters: " << broker().high_watermarks(dlq).at(0) << "/"
                       << expected_reason.size() << "\n"
                       << bridge.log_tail();

  // Every good event delivered; nothing else in the sink.
  EXPECT_EQ(counter.missing_count(good_ids), 0U)
      << "e.g. " << fmt::format("{}", fmt::join(counter.missing(good_ids), ", "));
  EXPECT_EQ(counter.unique(), good_ids.size()) << "a bad record reached the sink";
  EXPECT_EQ(counter.without_id(), 0U) << "a bad record reached the sink";

  // Every bad record dead-lettered once, byte for byte, with the expected reason.
  std::map<std::string, std::string> original;
  for (const auto& m : messages) {
    original[m.key] = m.value;
  }
  const auto letters = broker().consume_all(dlq);
  std::map<std::string, int> seen;
  std::map<std::string, std::map<std::string, int>> reasons;  // expected -> actual -> count
  for (const auto& letter : letters) {
    ++seen[letter.key];
    const auto it = expected_reason.find(letter.key);
    ASSERT_NE(it, expected_reason.end()) << "unexpected dead letter, key '" << letter.key
                                         << "' reason " << letter.header(kReasonHeader);
    ++reasons[it->second][letter.header(kReasonHeader)];
    EXPECT_EQ(letter.value, original[letter.key]) << letter.key;
    const std::string source = letter.header(kSourceHeader);
    EXPECT_EQ(source.rfind(topic + "/", 0), 0U)
        << letter.key << ": source header '" << source << "'";
  }
  for (const auto& [expected, actual] : reasons) {
    std::cerr << "expected " << expected << ":";
    for (const auto& [reason, n] : actual) {
      std::cerr << " " << (reason.empty() ? "(no reason header)" : reason) << "=" << n;
    }
    std::cerr << "\n";
    for (const auto& [reason, n] : actual) {
      EXPECT_EQ(reason, expected) << n << " record(s) expected to be dead-lettered as '" << expected
                                  << "' carry reason '" << reason << "'";
    }
  }
  std::size_t missing = 0;
  std::size_t twice = 0;
  for (const auto& [key, reason] : expected_reason) {
    missing += seen.contains(key) ? 0U : 1U;
    twice += seen.contains(key) && seen[key] > 1 ? 1U : 0U;
  }
  EXPECT_EQ(missing, 0U) << "bad records missing from the dead-letter topic";
  EXPECT_EQ(twice, 0U) << "bad records dead-lettered more than once without a restart";

  const auto st = bridge.stop(seconds(60));
  ASSERT_TRUE(st) << "no exit within 60 s of SIGTERM\n" << bridge.log_tail();
  EXPECT_TRUE(st->exited && st->code == 0) << to_string(*st) << "\n" << bridge.log_tail();
  const auto hw = broker().high_watermarks(topic);
  const auto committed = broker().committed_offsets(group, topic);
  for (const auto& [p, high] : hw) {
    EXPECT_EQ(committed.at(p), high) << "partition " << p;
  }
}

}  // namespace
}  // namespace bridge::harness

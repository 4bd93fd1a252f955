// Guarantee 1 (at-least-once) and 3 (per-partition order) on the happy path, through the real
// binary and a real broker: 100,000 events over 6 partitions all reach the file sink, in offset
// order per key; SIGTERM exits 0 and the group's committed offsets equal the high watermarks.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <csignal>
#include <iostream>
#include <map>

#include "tests/harness/fixture.h"

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class DeliveryTest : public BrokerTest {};

TEST_F(DeliveryTest, EveryEventDeliveredAndCommittedOnSigterm) {
  constexpr int kEvents = 100'000;
  constexpr int kPartitions = 6;
  constexpr int kCustomers = 997;
  const std::string topic = unique_name("it.events");
  const std::string dlq = unique_name("it.dlq");
  const std::string group = unique_name("it.group");
  create_topics(topic, kPartitions, dlq);

  // Keyed by customer, so each customer's events share a partition and must arrive in order.
  std::vector<std::string> ids;
  std::vector<ProduceMessage> batch;
  ids.reserve(kEvents);
  batch.reserve(kEvents);
  for (int i = 0; i < kEvents; ++i) {
    ids.push_back(fmt::format("a-{:06}", i));
    batch.push_back({fmt::format("cust-{}", i % kCustomers), make_event(ids.back()), {}});
  }
  const auto t0 = std::chrono::steady_clock::now();
  broker().produce(topic, batch);
  const auto hw = broker().high_watermarks(topic);
  std::int64_t total = 0;
  for (const auto& [p, off] : hw) {
    EXPECT_GT(off, 0) << "partition " << p << " got no events; keys do not spread";
    total += off;
  }
  ASSERT_EQ(total, kEvents);

  BridgeProcess bridge(dir_, "bridge", bridge_config(topic, dlq, group));
  bridge.start();
  const auto t_start = std::chrono::steady_clock::now();

  NdjsonFollower follower(bridge.config().sink_path);
  DeliveryCounter counter;
  std::vector<std::string> lines;
  std::map<std::string, int> last_seq_per_key;  // customer -> last event index seen
  std::size_t out_of_order = 0;
  const bool all = wait_until(
      [&] {
        lines.clear();
        follower.poll(lines);
        for (const auto& l : lines) {
          counter.add(l);
          const std::string id = extract_event_id(l);
          if (id.size() > 2) {
            const int seq = std::stoi(id.substr(2));
            const std::string key = fmt::format("cust-{}", seq % kCustomers);
            auto [it, inserted] = last_seq_per_key.try_emplace(key, seq);
            if (!inserted) {
              out_of_order += seq < it->second ? 1U : 0U;
              it->second = std::max(it->second, seq);
            }
          }
        }
        return counter.unique() >= static_cast<std::size_t>(kEvents) || !bridge.running();
      },
      seconds(240), milliseconds(200));
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  ASSERT_TRUE(bridge.running()) << "the bridge exited early\n" << bridge.log_tail();
  ASSERT_TRUE(all) << counter.unique() << " of " << kEvents << " delivered\n" << bridge.log_tail();
  std::cerr << fmt::format(
      "delivered {} events ({} lines, {} duplicates) in {:.1f} s after start ({:.0f}/s); produce "
      "took {:.1f} s\n",
      counter.unique(), counter.lines(), counter.duplicates(), secs,
      static_cast<double>(kEvents) / secs, std::chrono::duration<double>(t_start - t0).count());

  EXPECT_EQ(counter.missing_count(ids), 0U);
  EXPECT_EQ(counter.without_id(), 0U) << "lines in the sink that are not our events";
  EXPECT_EQ(counter.duplicates(), 0U) << "no restart, no rebalance: no duplicate expected";
  EXPECT_EQ(out_of_order, 0U) << "events of one customer (one partition) arrived out of order";

  // Give the periodic commit a moment, then stop: the final synchronous commit must cover all.
  bridge.kill(SIGTERM);
  const auto st = bridge.wait(seconds(60));
  ASSERT_TRUE(st) << "no exit within 60 s of SIGTERM\n" << bridge.log_tail();
  EXPECT_TRUE(st->exited && st->code == 0) << to_string(*st) << "\n" << bridge.log_tail();

  const auto committed = broker().committed_offsets(group, topic);
  ASSERT_EQ(committed.size(), hw.size());
  for (const auto& [p, high] : hw) {
    EXPECT_EQ(committed.at(p), high) << "partition " << p;
  }
  // Nothing was dead-lettered.
  EXPECT_EQ(broker().high_watermarks(dlq).at(0), 0);
}

}  // namespace
}  // namespace bridge::harness

// Guarantee 1 under crashes: SIGKILL the bridge at random moments while it consumes a live
// stream, restart it, and at the end every event has arrived. Duplicates are allowed
// (at-least-once) and counted. The kill points are random but seeded (printed; replay with
// BRIDGE_TEST_SEED).

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <csignal>
#include <iostream>
#include <random>

#include "tests/harness/background_producer.h"
#include "tests/harness/fixture.h"

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class KillRestartTest : public BrokerTest {};

TEST_F(KillRestartTest, EveryEventArrivesDespiteSigkills) {
  constexpr int kKills = 3;
  constexpr int kEvents = 200'000;
  constexpr int kPartitions = 6;
  const std::string topic = unique_name("it.events");
  const std::string dlq = unique_name("it.dlq");
  const std::string group = unique_name("it.group");
  create_topics(topic, kPartitions, dlq);

  std::mt19937_64 rng(test_seed());
  BridgeConfig cfg = bridge_config(topic, dlq, group);
  cfg.commit_interval_ms = 100;
  // Transforms on two workers (`auto` is 0 on a 2-core machine): a SIGKILL finds records
  // out on the workers as well as in the sink.
  cfg.pipeline_settings["workers"] = "2";
  BridgeProcess bridge(dir_, "bridge", cfg);

  NdjsonFollower follower(cfg.sink_path);
  DeliveryCounter counter;
  std::vector<std::string> lines;
  const auto drain_output = [&] {
    lines.clear();
    follower.poll(lines);
    counter.add_all(lines);
  };

  // A live stream of about 8,000 events/s that runs until every kill happened and at least
  // kEvents were produced: every kill lands while records are arriving and in flight (each
  // restart first waits out the killed member's session, 6 s, before it gets partitions).
  BackgroundProducer producer(
      broker(), topic,
      {.id_prefix = "b-", .batch = 800, .interval = milliseconds(100), .customers = 1009});
  for (int kill = 0; kill < kKills; ++kill) {
    const std::size_t before = counter.lines();
    bridge.start();
    // Wait for this run to deliver something, then kill it after a random delay.
    const bool progressed = wait_until(
        [&] {
          drain_output();
          return counter.lines() > before || !bridge.running();
        },
        seconds(90), milliseconds(10));
    ASSERT_TRUE(bridge.running()) << "the bridge exited on its own\n" << bridge.log_tail();
    ASSERT_TRUE(progressed) << "run " << kill << " delivered nothing in 90 s\n"
                            << bridge.log_tail();
    const auto delay = milliseconds(std::uniform_int_distribution<int>(0, 2500)(rng));
    std::this_thread::sleep_for(delay);
    const int produced_at_kill = producer.produced();
    bridge.kill(SIGKILL);
    const auto st = bridge.wait(seconds(10));
    ASSERT_TRUE(st && st->signaled && st->signal == SIGKILL) << bridge.log_tail();
    drain_output();
    std::cerr << fmt::format(
        "kill {}: SIGKILL {} ms after the run's first output; {} produced, {} delivered "
        "({} lines) at that point\n",
        kill + 1, delay.count(), produced_at_kill, counter.unique(), counter.lines());
    ASSERT_FALSE(producer.finished()) << "the producer failed: " << producer.error();
  }

  // Last run: no kill. Everything must arrive.
  bridge.start();
  ASSERT_TRUE(wait_until([&] { return producer.produced() >= kEvents || producer.finished(); },
                         seconds(120)));
  producer.stop();
  ASSERT_EQ(producer.error(), "");
  const std::vector<std::string> ids = producer.ids();
  ASSERT_GE(ids.size(), static_cast<std::size_t>(kEvents));
  const bool all = wait_until(
      [&] {
        drain_output();
        return counter.unique() >= ids.size() || !bridge.running();
      },
      seconds(240), milliseconds(200));
  ASSERT_TRUE(bridge.running()) << "the bridge exited on its own\n" << bridge.log_tail();
  EXPECT_TRUE(all) << counter.missing_count(ids) << " of " << ids.size()
                   << " events never arrived, e.g. "
                   << fmt::format("{}", fmt::join(counter.missing(ids), ", ")) << "\n"
                   << bridge.log_tail();
  EXPECT_EQ(counter.missing_count(ids), 0U);
  EXPECT_EQ(counter.without_id(), 0U) << "torn or foreign lines in the sink";
  std::cerr << fmt::format(
      "{} events, {} lines delivered, {} duplicates ({:.2f}%) after {} SIGKILLs\n", ids.size(),
      counter.lines(), counter.duplicates(),
      100.0 * static_cast<double>(counter.duplicates()) / static_cast<double>(ids.size()), kKills);
  ::testing::Test::RecordProperty("duplicates", std::to_string(counter.duplicates()));

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

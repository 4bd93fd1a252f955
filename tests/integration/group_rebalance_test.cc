// Scaling out through the consumer group: two instances share 6 partitions; one is stopped with
// SIGTERM while events keep flowing and the other takes its partitions over. Every event arrives
// (in one of the two sinks) and the group's committed offsets end at the high watermarks.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <csignal>
#include <iostream>

#include "tests/harness/background_producer.h"
#include "tests/harness/fixture.h"

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class GroupRebalanceTest : public BrokerTest {};

std::optional<double> assigned(const BridgeProcess& b) {
  const auto r = http_get("127.0.0.1", b.metrics_port(), "/metrics", seconds(2));
  if (r.status != 200) {
    return std::nullopt;
  }
  return metric_sum(r.body, "capillary_bridge_assigned_partitions");
}

TEST_F(GroupRebalanceTest, SurvivorTakesOverWhenOneInstanceStops) {
  constexpr int kPartitions = 6;
  const std::string topic = unique_name("it.events");
  const std::string dlq = unique_name("it.dlq");
  const std::string group = unique_name("it.group");
  create_topics(topic, kPartitions, dlq);

  // A transforms on two workers, B on its pipeline thread: the revoke waits for A's workers.
  BridgeConfig config_a = bridge_config(topic, dlq, group, "sink-a.ndjson");
  config_a.pipeline_settings["workers"] = "2";
  BridgeProcess a(dir_, "bridge-a", config_a);
  BridgeProcess b(dir_, "bridge-b", bridge_config(topic, dlq, group, "sink-b.ndjson"));
  BackgroundProducer producer(broker(), topic, {.id_prefix = "c-"});
  a.start();
  b.start();
  const auto logs = [&] { return a.log_tail(40) + b.log_tail(40); };

  // Both instances get a share of the partitions, and both deliver.
  std::optional<double> assigned_a;
  std::optional<double> assigned_b;
  const bool shared = wait_until(
      [&] {
        assigned_a = assigned(a);
        assigned_b = assigned(b);
        return (assigned_a.value_or(0) > 0 && assigned_b.value_or(0) > 0 &&
                *assigned_a + *assigned_b == kPartitions) ||
               !a.running() || !b.running();
      },
      seconds(60), milliseconds(250));
  ASSERT_TRUE(a.running() && b.running()) << logs();
  ASSERT_TRUE(shared) << "assigned partitions: a=" << assigned_a.value_or(-1)
                      << " b=" << assigned_b.value_or(-1) << "\n"
                      << logs();
  std::cerr << fmt::format("assignment: a={} b={}\n", *assigned_a, *assigned_b);
  const bool both_deliver = wait_until(
      [&] {
        return !read_ndjson(a.config().sink_path).empty() &&
               !read_ndjson(b.config().sink_path).empty();
      },
      seconds(60), milliseconds(200));
  ASSERT_TRUE(both_deliver) << "one instance delivered nothing\n" << logs();

  // Stop A while events keep flowing: a clean leave, exit 0.
  const int produced_at_stop = producer.produced();
  const auto st_a = a.stop(seconds(60));
  ASSERT_TRUE(st_a) << "a did not exit within 60 s of SIGTERM\n" << logs();
  EXPECT_TRUE(st_a->exited && st_a->code == 0) << to_string(*st_a) << "\n" << logs();

  // B takes every partition over and keeps delivering what is produced after A left.
  const bool took_over =
      wait_until([&] { return assigned(b).value_or(0) == kPartitions || !b.running(); },
                 seconds(60), milliseconds(250));
  ASSERT_TRUE(b.running()) << logs();
  ASSERT_TRUE(took_over) << "b has " << assigned(b).value_or(-1) << " partitions\n" << logs();
  wait_until([&] { return producer.produced() >= produced_at_stop + 10'000; }, seconds(30));
  producer.stop();
  ASSERT_EQ(producer.error(), "");
  const std::vector<std::string> ids = producer.ids();
  std::cerr << fmt::format("produced {} events ({} before a stopped)\n", ids.size(),
                           produced_at_stop);

  DeliveryCounter counter;
  const bool all = wait_until(
      [&] {
        counter = DeliveryCounter();
        counter.add_all(read_ndjson(a.config().sink_path));
        counter.add_all(read_ndjson(b.config().sink_path));
        return counter.unique() >= ids.size() || !b.running();
      },
      seconds(120), milliseconds(500));
  ASSERT_TRUE(b.running()) << logs();
  EXPECT_TRUE(all) << counter.missing_count(ids) << " of " << ids.size() << " never arrived, e.g. "
                   << fmt::format("{}", fmt::join(counter.missing(ids), ", ")) << "\n"
                   << logs();
  EXPECT_EQ(counter.without_id(), 0U);
  std::cerr << fmt::format("{} events, {} lines, {} duplicates across the two sinks\n", ids.size(),
                           counter.lines(), counter.duplicates());

  const auto st_b = b.stop(seconds(60));
  ASSERT_TRUE(st_b) << "b did not exit within 60 s of SIGTERM\n" << logs();
  EXPECT_TRUE(st_b->exited && st_b->code == 0) << to_string(*st_b) << "\n" << logs();
  const auto hw = broker().high_watermarks(topic);
  const auto committed = broker().committed_offsets(group, topic);
  for (const auto& [p, high] : hw) {
    EXPECT_EQ(committed.at(p), high) << "partition " << p;
  }
}

}  // namespace
}  // namespace bridge::harness

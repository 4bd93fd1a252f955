// The `kafka` sink through the real binary and a real broker: a record counts as delivered only
// on its delivery report (an unreachable outbound cluster delivers nothing, commits nothing and
// loses nothing), and an output the outbound cluster can never take is dead-lettered with the
// sink's reason while every other record still arrives.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <set>

#include "tests/harness/fixture.h"

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class KafkaSinkTest : public BrokerTest {
 protected:
  // The harness writes a file sink; swap it for a kafka sink to `topic` on `brokers`, and put
  // `pipeline` lines into the pipeline section.
  static std::string kafka_sink_yaml(const BridgeConfig& cfg, const std::string& topic,
                                     const std::string& brokers, const std::string& pipeline) {
    std::string yaml = cfg.to_yaml();
    const auto begin = yaml.find("sink:\n");
    const auto end = yaml.find("\nmetrics:");
    EXPECT_NE(begin, std::string::npos);
    EXPECT_NE(end, std::string::npos);
    yaml.replace(begin, end - begin,
                 fmt::format("sink:\n  type: kafka\n  kafka:\n    topic: {}\n    brokers: {}\n"
                             "    properties: {{message.timeout.ms: \"0\"}}\n",
                             yaml_quote(topic), yaml_quote(brokers)));
    yaml.replace(yaml.find("pipeline:\n"), 10, "pipeline:\n" + pipeline);
    return yaml;
  }

  std::map<std::int32_t, std::int64_t> committed(const std::string& group,
                                                 const std::string& topic) {
    return broker().committed_offsets(group, topic);
  }

  static std::set<std::string> ids_of(const std::vector<ConsumedMessage>& messages) {
    std::set<std::string> ids;
    for (const auto& m : messages) {
      ids.insert(extract_event_id(m.value));
    }
    return ids;
  }
};

TEST_F(KafkaSinkTest, DeliveredOnlyOnDeliveryReportAndNothingLostWhileTheSinkIsDown) {
  constexpr int kEvents = 2'000;
  const std::string topic = unique_name("it.events");
  const std::string out = unique_name("it.out");
  const std::string dlq = unique_name("it.dlq");
  const std::string group = unique_name("it.group");
  create_topics(topic, 3, dlq);
  broker().create_topic(out, 3);

  std::vector<ProduceMessage> batch;
  std::set<std::string> ids;
  for (int i = 0; i < kEvents; ++i) {
    ids.insert(fmt::format("k-{:05}", i));
    batch.push_back({fmt::format("cust-{}", i % 101), make_event(fmt::format("k-{:05}", i)), {}});
  }
  broker().produce(topic, batch);
  const auto end_offsets = broker().high_watermarks(topic);

  // Phase 1: the outbound cluster is a closed port. Records are consumed and sent, but no
  // delivery report ever says "delivered": nothing may count as delivered or be committed.
  BridgeConfig cfg = bridge_config(topic, dlq, group);
  cfg.drain_timeout_ms = 2000;
  const std::string dead = fmt::format("127.0.0.1:{}", free_port());
  {
    BridgeProcess bridge(dir_, "down", cfg);
    std::ofstream(bridge.config_path()) << kafka_sink_yaml(bridge.config(), out, dead, "");
    bridge.start();
    double consumed = 0;
    ASSERT_TRUE(wait_until(
        [&] {
          const auto r = http_get("127.0.0.1", bridge.metrics_port(), "/metrics");
          consumed = metric_sum(r.body, "capillary_bridge_records_consumed_total").value_or(0);
          return consumed >= kEvents;
        },
        seconds(60)))
        << "consumed " << consumed << "\n"
        << bridge.log_tail();
    // Give the producer the chance to misreport: wait until librdkafka has tried the dead
    // address and failed at least twice (it logs each refused connect at error level).
    const std::string refused = fmt::format("#{} failed: Connection refused", dead);
    std::size_t refusals = 0;
    EXPECT_TRUE(wait_until(
        [&] {
          const std::string log = read_file(bridge.log_path());
          refusals = 0;
          for (auto at = log.find(refused); at != std::string::npos;
               at = log.find(refused, at + 1)) {
            ++refusals;
          }
          return refusals >= 2;
        },
        seconds(30)))
        << refusals << " refused connects to " << dead << " logged\n"
        << bridge.log_tail();
    const auto r = http_get("127.0.0.1", bridge.metrics_port(), "/metrics");
    EXPECT_EQ(metric_sum(r.body, "capillary_bridge_records_delivered_total").value_or(-1), 0);
    EXPECT_EQ(metric_sum(r.body, "capillary_bridge_records_dead_lettered_total").value_or(0), 0);
    EXPECT_EQ(http_get("127.0.0.1", bridge.metrics_port(), "/readyz").status, 200)
        << "assigned; the producer cannot know the cluster is down until a delivery fails";
    const auto status = bridge.stop(seconds(30));
    ASSERT_TRUE(status && status->exited) << bridge.log_tail();
    EXPECT_EQ(status->code, 3) << "the drain ended with records undelivered\n" << bridge.log_tail();
  }
  for (const auto& [partition, offset] : committed(group, topic)) {
    EXPECT_LT(offset, 0) << "partition " << partition << " committed " << offset
                         << " although nothing was delivered";
  }

  // Phase 2: the real cluster. Every event arrives in the outbound topic, then the group's
  // offsets reach the end of every partition.
  {
    BridgeProcess bridge(dir_, "up", cfg);
    std::ofstream(bridge.config_path())
        << kafka_sink_yaml(bridge.config(), out, broker().bootstrap(), "");
    bridge.start();
    std::int64_t written = 0;
    ASSERT_TRUE(wait_until(
        [&] {
          written = 0;
          for (const auto& [p, hw] : broker().high_watermarks(out)) {
            written += hw;
          }
          return written >= kEvents;
        },
        seconds(120)))
        << "outbound topic has " << written << "\n"
        << bridge.log_tail();
    const auto status = bridge.stop(seconds(30));
    ASSERT_TRUE(status && status->exited) << bridge.log_tail();
    EXPECT_EQ(status->code, 0) << bridge.log_tail();
  }
  const auto delivered = ids_of(broker().consume_all(out));
  EXPECT_EQ(delivered, ids);
  EXPECT_EQ(committed(group, topic), end_offsets);
}

TEST_F(KafkaSinkTest, OutputTheClusterCanNeverTakeIsDeadLetteredWithTheSinkReason) {
  constexpr int kEvents = 1'000;
  const std::string topic = unique_name("it.events");
  const std::string out = unique_name("it.out");
  const std::string dlq = unique_name("it.dlq");
  const std::string group = unique_name("it.group");
  create_topics(topic, 2, dlq);
  broker().create_topic(out, 2);

  // 1.5 MB events pass the bridge's own size limit (raised to 4 MiB here) but exceed the
  // outbound producer's message.max.bytes (1,000,000 by default): a permanent sink error.
  std::vector<ProduceMessage> batch;
  std::set<std::string> small;
  std::set<std::string> big;
  for (int i = 0; i < kEvents; ++i) {
    const std::string id = fmt::format("s-{:05}", i);
    if (i == 250 || i == 777) {
      const std::string big_id = fmt::format("big-{}", i);
      big.insert(big_id);
      std::string event = make_event(big_id);
      event.insert(event.size() - 1, fmt::format(R"(,"blob":"{}")", std::string(1'500'000, 'x')));
      batch.push_back({"cust-big", event, {}});
    }
    small.insert(id);
    batch.push_back({fmt::format("cust-{}", i % 13), make_event(id), {}});
  }
  broker().produce(topic, batch);
  const auto end_offsets = broker().high_watermarks(topic);

  BridgeConfig cfg = bridge_config(topic, dlq, group);
  BridgeProcess bridge(dir_, "bridge", cfg);
  std::ofstream(bridge.config_path())
      << kafka_sink_yaml(bridge.config(), out, broker().bootstrap(), "  max_event_bytes: 4MiB\n");
  bridge.start();
  ASSERT_TRUE(wait_until(
      [&] {
        return metric_sum(http_get("127.0.0.1", bridge.metrics_port(), "/metrics").body,
                          "capillary_bridge_records_dead_lettered_total")
                   .value_or(0) >= 2;
      },
      seconds(120)))
      << bridge.log_tail();
  ASSERT_TRUE(wait_until(
      [&] {
        std::int64_t n = 0;
        for (const auto& [p, hw] : broker().high_watermarks(out)) {
          n += hw;
        }
        return n >= kEvents;
      },
      seconds(120)))
      << bridge.log_tail();
  const auto status = bridge.stop(seconds(30));
  ASSERT_TRUE(status && status->exited) << bridge.log_tail();
  EXPECT_EQ(status->code, 0);

  EXPECT_EQ(ids_of(broker().consume_all(out)), small);
  const auto letters = broker().consume_all(dlq);
  ASSERT_EQ(letters.size(), 2U);
  std::set<std::string> lettered;
  for (const auto& l : letters) {
    lettered.insert(extract_event_id(l.value));
    EXPECT_EQ(l.header("capillary-bridge.reason"), "sink-rejected");
    EXPECT_FALSE(l.header("capillary-bridge.message").empty());
    EXPECT_GT(l.value.size(), 1'500'000U) << "the original bytes, whole";
  }
  EXPECT_EQ(lettered, big);
  EXPECT_EQ(committed(group, topic), end_offsets);
}

}  // namespace
}  // namespace bridge::harness

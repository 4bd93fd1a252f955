// The librdkafka configuration the bridge builds: SASL/SSL settings from config reach librdkafka,
// pass-through properties apply, the guarantees' settings win over the user's, and a bad property
// is reported without echoing its value (it may be a secret).
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "bridge/kafka/client_config.h"
#include "bridge/kafka/producer.h"

namespace bridge::kafka {
namespace {

std::string get(rd_kafka_conf_t* conf, const char* name) {
  std::array<char, 512> buf{};
  std::size_t size = buf.size();
  if (rd_kafka_conf_get(conf, name, buf.data(), &size) != RD_KAFKA_CONF_OK) {
    return "<unset>";
  }
  return buf.data();
}

config::KafkaConfig secured() {
  config::KafkaConfig cfg;
  cfg.brokers = "b1:9093,b2:9093";
  cfg.client_id = "bridge-a";
  cfg.security.protocol = "SASL_PLAINTEXT";
  cfg.security.sasl_mechanism = "SCRAM-SHA-512";
  cfg.security.sasl_username = "svc-bridge";
  cfg.security.sasl_password = config::Secret("pa55word");
  cfg.properties = {{"socket.keepalive.enable", "true"}, {"enable.auto.offset.store", "true"}};
  return cfg;
}

TEST(KafkaClientConfig, SecuritySettingsAndPropertiesReachLibrdkafka) {
  auto conf = base_conf(secured(), {}, {{"enable.auto.offset.store", "false"}});
  ASSERT_TRUE(conf) << conf.error().message;
  rd_kafka_conf_t* c = conf->get();
  EXPECT_EQ(get(c, "bootstrap.servers"), "b1:9093,b2:9093");
  EXPECT_EQ(get(c, "client.id"), "bridge-a");
  EXPECT_EQ(get(c, "security.protocol"), "sasl_plaintext");
  EXPECT_EQ(get(c, "sasl.mechanisms"), "SCRAM-SHA-512");
  EXPECT_EQ(get(c, "sasl.username"), "svc-bridge");
  EXPECT_EQ(get(c, "sasl.password"), "pa55word");
  EXPECT_EQ(get(c, "socket.keepalive.enable"), "true");
  // The at-least-once settings are applied after the user's properties: they cannot be undone.
  EXPECT_EQ(get(c, "enable.auto.offset.store"), "false");
}

TEST(KafkaClientConfig, OtherBrokersOverrideTheConsumerCluster) {
  auto conf = base_conf(secured(), "dlq:9092", {});
  ASSERT_TRUE(conf) << conf.error().message;
  EXPECT_EQ(get(conf->get(), "bootstrap.servers"), "dlq:9092");
}

TEST(KafkaClientConfig, BadPropertyNamesTheKeyButNotTheValue) {
  auto cfg = secured();
  cfg.properties = {{"ssl.key.password.typo", "hunter2"}};
  auto conf = base_conf(cfg, {}, {});
  ASSERT_FALSE(conf);
  EXPECT_NE(conf.error().message.find("ssl.key.password.typo"), std::string::npos)
      << conf.error().message;
  EXPECT_EQ(conf.error().message.find("hunter2"), std::string::npos) << conf.error().message;

  cfg.properties = {{"fetch.wait.max.ms", "not-a-number-s3cret"}};
  conf = base_conf(cfg, {}, {});
  ASSERT_FALSE(conf);
  EXPECT_EQ(conf.error().message.find("s3cret"), std::string::npos) << conf.error().message;
}

// A full local queue is answered at once (backpressure), never waited out on the pipeline thread:
// the old producer spun up to a second per message here.
TEST(KafkaProducer, FullLocalQueueIsReportedAtOnce) {
  config::KafkaConfig cfg;
  cfg.brokers = "127.0.0.1:1";  // nobody listens: nothing ever leaves the queue
  auto producer = Producer::create(cfg, {}, {{"queue.buffering.max.messages", "1"}});
  ASSERT_TRUE(producer) << producer.error().message;
  ASSERT_EQ(producer->produce("t", "k", "v1", {}, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(producer->produce("t", "k", "v2", {}, 2), RD_KAFKA_RESP_ERR__QUEUE_FULL);
  }
  // 20 calls that each waited out a 1 s retry loop would take 20 s.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace bridge::kafka

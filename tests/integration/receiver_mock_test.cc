// The webhook receiver in-process (bridge/receiver) against librdkafka's mock cluster, for what
// needs no real broker (connection threads, the delivery report thread, the readiness thread,
// shutdown; not under TSan, see tests/CMakeLists.txt):
// - concurrent keep-alive connections: every request answered 200 is counted once by the
//   receiver and is a record in the topic;
// - shutdown() while requests are in flight: each is answered (200 or 503), none is cut, the
//   200s are exactly the events the receiver counts as produced, and nothing is served after;
// - HTTPS from PEM files;
// - a topic the cluster does not have is a start-up error naming it.
// The broker-level guarantees (exactly once, order, SIGKILL, outages) are in receiver_test.cc
// against a real Apache Kafka broker.

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <memory>
#include <thread>

#include "bridge/kafka/mock_cluster.h"
#include "bridge/metrics/metrics.h"
#include "bridge/receiver/receiver.h"
#include "tests/harness/process.h"
#include "tests/harness/tls.h"
#include "tests/harness/webhook.h"

namespace bridge::receiver {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kTopic = "capillary.events";
constexpr const char* kAuth = "Authorization: Bearer mock-token";

class ReceiverMockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = kafka::MockCluster::start(1);
    ASSERT_TRUE(cluster) << cluster.error().message;
    cluster_ = std::move(*cluster);
    ASSERT_TRUE(cluster_->create_topic(kTopic, 3));
    kafka_.brokers = cluster_->bootstrap();
    kafka_.topics = {kTopic};
    cfg_.present = true;
    cfg_.listen = "127.0.0.1:0";
    cfg_.topic = kTopic;
    cfg_.brokers = cluster_->bootstrap();
    cfg_.produce_timeout = seconds(5);
    config::ReceiverPath path;
    path.path = "/capillary/events";
    path.topic = kTopic;
    path.auth.tokens.emplace_back(std::string("mock-token"));
    cfg_.paths.push_back(std::move(path));
  }

  // Sum of the topic's high watermarks.
  std::int64_t records() {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", cluster_->bootstrap().c_str(), err, sizeof err);
    const std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> rk(
        rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err), &rd_kafka_destroy);
    std::int64_t total = 0;
    for (int p = 0; p < 3; ++p) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      EXPECT_EQ(rd_kafka_query_watermark_offsets(rk.get(), kTopic, p, &low, &high, 5000),
                RD_KAFKA_RESP_ERR_NO_ERROR);
      total += high;
    }
    return total;
  }

  std::unique_ptr<kafka::MockCluster> cluster_;
  config::KafkaConfig kafka_;
  config::ReceiverConfig cfg_;
  metrics::Metrics metrics_;
};

TEST_F(ReceiverMockTest, ConcurrentConnectionsEveryTwoHundredIsARecord) {
  auto rx = Receiver::start(cfg_, kafka_, metrics_);
  ASSERT_TRUE(rx) << rx.error().message;
  EXPECT_TRUE((*rx)->ready());
  harness::LoadOptions load;
  load.url = (*rx)->base_url() + "/capillary/events";
  load.auth = kAuth;
  load.connections = 8;
  load.events = 1600;
  load.customers = 64;
  const auto r = harness::run_load(load);
  EXPECT_EQ(r.acknowledged.size(), 1600U);
  EXPECT_EQ((*rx)->counts().events_produced, 1600U);
  EXPECT_TRUE((*rx)->shutdown(seconds(5)));
  EXPECT_EQ(records(), 1600);
}

TEST_F(ReceiverMockTest, ShutdownAnswersEveryRequestInFlightAndServesNothingAfter) {
  auto rx = Receiver::start(cfg_, kafka_, metrics_);
  ASSERT_TRUE(rx) << rx.error().message;
  harness::LoadOptions load;
  load.url = (*rx)->base_url() + "/capillary/events";
  load.auth = kAuth;
  load.connections = 8;
  load.events = 0;
  load.timeout = seconds(10);
  std::atomic<bool> stop{false};
  load.stop = [&] { return stop.load(); };
  harness::LoadResult r;
  std::thread loader([&] { r = harness::run_load(load); });
  ASSERT_TRUE(
      harness::wait_until([&] { return (*rx)->counts().events_produced >= 200; }, seconds(30)));
  EXPECT_TRUE((*rx)->shutdown(seconds(10))) << "requests still in flight at the deadline";
  EXPECT_FALSE((*rx)->ready());
  const auto produced = (*rx)->counts().events_produced;
  std::this_thread::sleep_for(milliseconds(300));  // clients see the closed port
  stop.store(true);
  loader.join();
  // Each request got an answer or found the port closed; every 200 is a produced event.
  for (const auto& [status, count] : r.by_status) {
    EXPECT_TRUE(status == 200 || status == 503 || status == 0) << status << " x" << count;
  }
  EXPECT_EQ(r.acknowledged.size(), produced);
  EXPECT_EQ((*rx)->counts().events_produced, produced) << "produced after the shutdown";
  harness::WebhookClient late((*rx)->base_url() + "/capillary/events", kAuth, seconds(2));
  EXPECT_EQ(late.post(harness::webhook_event(1, 1)).status, 0) << "served after shutdown";
  EXPECT_GE(records(), static_cast<std::int64_t>(produced));
}

TEST_F(ReceiverMockTest, ServesHttpsFromPemFiles) {
  harness::SelfSignedCert cert;
  if (!cert.ok()) {
    GTEST_SKIP() << "no openssl CLI for a test certificate";
  }
  cfg_.tls_cert_file = cert.cert;  // PEM files
  cfg_.tls_key_file = cert.key;
  auto rx = Receiver::start(cfg_, kafka_, metrics_);
  ASSERT_TRUE(rx) << rx.error().message;
  ASSERT_EQ((*rx)->base_url().rfind("https://", 0), 0U) << (*rx)->base_url();
  harness::WebhookClient client((*rx)->base_url() + "/capillary/events", kAuth);
  const auto a = client.post(harness::webhook_event(7, 0));
  EXPECT_EQ(a.status, 200) << a.body;
  cfg_.tls_key_file = cert.key + ".missing.pem";
  auto bad = Receiver::start(cfg_, kafka_, metrics_);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "receiver-tls");
  EXPECT_NE(bad.error().message.find("missing.pem"), std::string::npos) << bad.error().message;
}

TEST_F(ReceiverMockTest, ATopicTheClusterDoesNotHaveIsAStartError) {
  cfg_.paths.front().topic = "no.such.topic";
  auto rx = Receiver::start(cfg_, kafka_, metrics_, seconds(5));
  ASSERT_FALSE(rx);
  EXPECT_EQ(rx.error().code, "receiver-topic");
  EXPECT_NE(rx.error().message.find("no.such.topic"), std::string::npos) << rx.error().message;
}

}  // namespace
}  // namespace bridge::receiver

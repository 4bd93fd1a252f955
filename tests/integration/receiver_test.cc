// The webhook receiver (`capillary-bridge receive`, bridge/receiver) through the real binary and a
// real Kafka broker: an event answered 200 is in the topic, under any fault.
// - 50,000 POSTs from 32 keep-alive connections: every one answered 200 is in the topic exactly
//   once, keyed "orgId:customerId", one customer in one partition, in the order it was sent;
// - wrong or missing auth, an oversized, non-JSON, non-UTF-8 or batch-with-a-non-object body,
//   a wrong method or path: refused with the documented status, nothing produced; an event the
//   topic's max.message.bytes refuses is a 413 (not a 503 Capillary would retry for days);
// - a client that stalls or trickles its body is cut off at the read timeout while other
//   requests are answered;
// - SIGKILL mid-load: every event answered 200 before the kill is in the topic;
// - SIGTERM mid-load: the requests in flight are answered, the process exits 0, every 200 is in
//   the topic;
// - `run --with-receiver` carries a webhook through Kafka and the catalogue to the Platform
//   emulator as exactly the message `transform` makes of it;
// - the broker stopped mid-load: the receiver answers 503 with Retry-After while it is down, and
//   once it is back every event that got a 200 (before, during or after) is in the topic.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "tests/harness/emulator.h"
#include "tests/harness/fixture.h"
#include "tests/harness/webhook.h"

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kToken = "it-webhook-token";
constexpr const char* kNextToken = "it-webhook-token-next";
const std::string kAuth = fmt::format("Authorization: Bearer {}", kToken);

// evt-<customer>-<seq> from an event's JSON.
std::pair<std::uint64_t, std::uint64_t> customer_and_seq(const std::string& value) {
  const auto at = value.find("\"eventId\":\"evt-");
  if (at == std::string::npos) {
    throw std::runtime_error("no evt- eventId in " + value.substr(0, 120));
  }
  std::uint64_t customer = 0;
  std::uint64_t seq = 0;
  if (std::sscanf(value.c_str() + at + 15, "%lu-%lu", &customer, &seq) != 2) {
    throw std::runtime_error("bad eventId in " + value.substr(0, 120));
  }
  return {customer, seq};
}

std::string event_id(const std::string& value) {
  const auto [customer, seq] = customer_and_seq(value);
  return fmt::format("evt-{}-{}", customer, seq);
}

class ReceiverTest : public BrokerTest {
 protected:
  const Names n_ = unique_names();
  std::uint16_t http_port_ = free_port();

  void SetUp() override {
    BrokerTest::SetUp();
    create_topics(n_.topic, 6, n_.dlq);
  }

  [[nodiscard]] std::string url(const std::string& path = "/capillary/events") const {
    return fmt::format("http://127.0.0.1:{}{}", http_port_, path);
  }

  BridgeConfig receiver_config(const std::string& extra = {}) {
    BridgeConfig cfg = bridge_config(n_.topic, n_.dlq, n_.group);
    cfg.command = {"receive"};
    const std::string tokens = dir_.file("tokens");
    write_file(tokens, fmt::format("{}\n{}\n", kToken, kNextToken));
    cfg.extra_yaml += fmt::format(
        "receiver:\n"
        "  listen: 127.0.0.1:{}\n"
        "  produce_timeout_ms: 3000\n"
        "  retry_after_s: 2\n"
        "  shutdown_timeout_ms: 10000\n"
        "  limits: {{max_body_bytes: 64KiB, read_timeout_ms: 2000}}\n"
        "  paths:\n"
        "    - path: /capillary/events\n"
        "      auth: {{tokens_file: {}}}\n"
        "{}",
        http_port_, yaml_quote(tokens), extra);
    return cfg;
  }

  // Starts it and waits for /readyz.
  std::unique_ptr<BridgeProcess> start(const BridgeConfig& cfg, const std::string& name) {
    auto p = std::make_unique<BridgeProcess>(dir_, name, cfg);
    p->start();
    const bool ready = wait_until(
        [&] { return http_get("127.0.0.1", p->metrics_port(), "/readyz").status == 200; },
        seconds(30), milliseconds(100));
    if (!ready) {
      throw std::runtime_error("receiver not ready:\n" + p->log_tail());
    }
    return p;
  }

  // Load from `connections` keep-alive connections: `events` in all (0: until `stop`).
  [[nodiscard]] LoadOptions load(int connections, std::uint64_t events,
                                 std::function<bool()> stop = {}) const {
    LoadOptions o;
    o.url = url();
    o.auth = kAuth;
    o.connections = connections;
    o.events = events;
    o.stop = std::move(stop);
    return o;
  }

  // Every eventId of `acknowledged` is in the topic; returns the topic's messages.
  std::vector<ConsumedMessage> expect_all_in_topic(const std::vector<std::string>& acknowledged) {
    const auto messages = broker().consume_all(n_.topic);
    std::set<std::string> in_topic;
    for (const auto& m : messages) {
      in_topic.insert(event_id(m.value));
    }
    std::size_t missing = 0;
    for (const auto& id : acknowledged) {
      if (!in_topic.contains(id)) {
        if (++missing <= 5) {
          ADD_FAILURE() << id << " was answered 200 but is not in the topic";
        }
      }
    }
    EXPECT_EQ(missing, 0U) << "of " << acknowledged.size() << " acknowledged";
    return messages;
  }
};

TEST_F(ReceiverTest, FiftyThousandPostsFromThirtyTwoConnectionsLandOnceKeyedAndInOrder) {
  auto rx = start(receiver_config(), "receiver");
  const LoadResult r = run_load(load(32, 50000));
  std::cerr << fmt::format("50k posts: {:.1f} s, {:.0f} requests/s\n", r.seconds,
                           static_cast<double>(r.sent) / r.seconds);
  std::string statuses;
  for (const auto& [status, count] : r.by_status) {
    statuses += fmt::format(" {}x{}", status, count);
  }
  ASSERT_EQ(r.acknowledged.size(), 50000U) << "statuses:" << statuses << "\n" << rx->log_tail();

  const auto messages = broker().consume_all(n_.topic);
  ASSERT_EQ(messages.size(), 50000U) << "exactly once: no duplicates, nothing missing";
  std::set<std::string> ids;
  std::map<std::uint64_t, std::int32_t> partition_of;
  std::map<std::uint64_t, std::int64_t> last_seq;
  // consume_all returns each partition in offset order.
  for (const auto& m : messages) {
    const auto [customer, seq] = customer_and_seq(m.value);
    EXPECT_TRUE(ids.insert(fmt::format("evt-{}-{}", customer, seq)).second);
    EXPECT_EQ(m.key, fmt::format("50001:{}", 510000000 + customer));
    const auto [it, first] = partition_of.emplace(customer, m.partition);
    EXPECT_EQ(it->second, m.partition) << "customer " << customer << " in two partitions";
    auto& last = last_seq.try_emplace(customer, -1).first->second;
    EXPECT_EQ(static_cast<std::int64_t>(seq), last + 1)
        << "customer " << customer << ": out of order or a gap";
    last = static_cast<std::int64_t>(seq);
    EXPECT_FALSE(m.header("capillary-bridge-received-at").empty());
    EXPECT_EQ(m.header("capillary-bridge-request-id").size(), 32U);
    ASSERT_FALSE(::testing::Test::HasFailure()) << "first bad record at offset " << m.offset;
  }
  EXPECT_EQ(partition_of.size(), 1000U);
  std::set<std::int32_t> partitions;
  for (const auto& [c, p] : partition_of) {
    partitions.insert(p);
  }
  EXPECT_EQ(partitions.size(), 6U) << "customers spread over every partition";

  // The receiver's own books agree.
  const std::string metrics = http_get("127.0.0.1", rx->metrics_port(), "/metrics").body;
  EXPECT_EQ(
      metric_sum(metrics, "capillary_bridge_receiver_events_total", {{"outcome", "produced"}}),
      50000.0);
  EXPECT_EQ(metric_sum(metrics, "capillary_bridge_receiver_requests_total", {{"status", "200"}}),
            50000.0);
  EXPECT_EQ(metric_sum(metrics, "capillary_bridge_receiver_produce_seconds_count"), 50000.0);
  EXPECT_EQ(metric_sum(metrics, "capillary_bridge_receiver_inflight_requests"), 0.0);
  EXPECT_EQ(metrics.find("510000"), std::string::npos) << "metrics carry no customer ids";
  const auto status = rx->stop(seconds(30));
  ASSERT_TRUE(status) << rx->log_tail();
  EXPECT_TRUE(status->exited && status->code == 0) << to_string(*status);
  EXPECT_EQ(rx->log_tail(200).find("510000"), std::string::npos) << "logs carry no payload";
}

TEST_F(ReceiverTest, RefusesBadRequestsWithTheirStatusAndProducesNothing) {
  auto rx = start(receiver_config(), "receiver");
  const std::string good = webhook_event(1, 0);
  struct Case {
    std::string what;
    std::string auth;
    std::string method;
    std::string path;
    std::string body;
    std::vector<std::string> headers;
    int status;
  };
  std::string invalid_utf8 = good;
  invalid_utf8.replace(invalid_utf8.find("pointsIssued"), 1, "\xff");
  const std::vector<Case> cases = {
      {"no auth header", "", "POST", "/capillary/events", good, {}, 401},
      {"wrong token", "Authorization: Bearer nope", "POST", "/capillary/events", good, {}, 401},
      {"token without Bearer",
       fmt::format("Authorization: {}", kToken),
       "POST",
       "/capillary/events",
       good,
       {},
       401},
      {"oversized", kAuth, "POST", "/capillary/events", webhook_event(1, 0, 70 * 1024), {}, 413},
      {"not JSON", kAuth, "POST", "/capillary/events", "customer=1&points=10", {}, 400},
      {"a JSON string", kAuth, "POST", "/capillary/events", "\"pointsIssued\"", {}, 400},
      {"invalid UTF-8", kAuth, "POST", "/capillary/events", invalid_utf8, {}, 400},
      {"truncated", kAuth, "POST", "/capillary/events", good.substr(0, good.size() - 2), {}, 400},
      {"batch with a number", kAuth, "POST", "/capillary/events", "[" + good + ",1]", {}, 400},
      {"GET", kAuth, "GET", "/capillary/events", "", {}, 405},
      {"unknown path", kAuth, "POST", "/capillary/other", good, {}, 404},
      {"huge headers",
       kAuth,
       "POST",
       "/capillary/events",
       good,
       {"X-Padding: " + std::string(20 * 1024, 'p')},
       431},
  };
  for (const auto& c : cases) {
    WebhookClient client(url(c.path), c.auth);
    const WebhookAnswer a = client.send(c.method, c.body, c.headers);
    EXPECT_EQ(a.status, c.status) << c.what << ": " << a.body;
    if (c.status == 400) {
      const char* code = c.what == "invalid UTF-8" ? "encoding" : "malformed-json";
      EXPECT_NE(a.body.find(fmt::format("\"error\":\"{}\"", code)), std::string::npos)
          << c.what << ": " << a.body;
    }
  }
  // Nothing of that reached the topic; then one good event does (with the rotated-in token).
  for (const auto& [p, hw] : broker().high_watermarks(n_.topic)) {
    EXPECT_EQ(hw, 0) << "partition " << p;
  }
  WebhookClient next(url(), fmt::format("Authorization: Bearer {}", kNextToken));
  EXPECT_EQ(next.post(good).status, 200);
  const auto batch = "[" + webhook_event(2, 0) + ",\n " + webhook_event(2, 1) + "]";
  const WebhookAnswer b = next.post(batch);
  EXPECT_EQ(b.status, 200) << b.body;
  EXPECT_NE(b.body.find("\"events\":2"), std::string::npos) << b.body;
  const auto messages = broker().consume_all(n_.topic);
  ASSERT_EQ(messages.size(), 3U);
  std::set<std::string> values;
  for (const auto& m : messages) {
    values.insert(m.value);
  }
  EXPECT_TRUE(values.contains(good)) << "the bytes produced are the bytes posted";
  EXPECT_TRUE(values.contains(webhook_event(2, 1)));

  const std::string metrics = http_get("127.0.0.1", rx->metrics_port(), "/metrics").body;
  EXPECT_EQ(metric_sum(metrics, "capillary_bridge_receiver_auth_failures_total"), 3.0);
  EXPECT_EQ(metric_sum(metrics, "capillary_bridge_receiver_requests_total", {{"status", "401"}}),
            3.0);
  EXPECT_EQ(metric_sum(metrics, "capillary_bridge_receiver_requests_total", {{"status", "400"}}),
            5.0);
  const std::string log = rx->log_tail(200);
  EXPECT_EQ(log.find(kToken), std::string::npos) << "a token in the log";
  EXPECT_EQ(log.find("nope"), std::string::npos) << "a presented secret in the log";
  // One line per reason and 10 s: the first refusal is logged, without its value.
  EXPECT_NE(log.find("the Authorization header is missing (value not logged)"), std::string::npos)
      << log;
}

TEST_F(ReceiverTest, AnEventTheTopicCannotTakeIs413NotARetry) {
  const std::string small = unique_name("it.small");
  broker().create_topic(small, 1, {{"max.message.bytes", "2048"}});
  auto rx = start(receiver_config(fmt::format("    - path: /small\n"
                                              "      topic: {}\n"
                                              "      auth: {{tokens: [{}]}}\n",
                                              small, kToken)),
                  "receiver");
  WebhookClient client(url("/small"), kAuth);
  // Incompressible: the topic's limit applies to the (lz4) compressed batch.
  std::string noise;
  std::uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 8192; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    noise += "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[x % 62];
  }
  std::string event = webhook_event(5, 0);
  event.insert(event.size() - 3, noise);
  const WebhookAnswer big = client.post(event);
  EXPECT_EQ(big.status, 413) << big.body;
  EXPECT_NE(big.body.find("\"error\":\"too-large\""), std::string::npos) << big.body;
  const WebhookAnswer fits = client.post(webhook_event(5, 1));
  EXPECT_EQ(fits.status, 200) << fits.body;
  const auto messages = broker().consume_all(small);
  ASSERT_EQ(messages.size(), 1U);
  EXPECT_EQ(event_id(messages.front().value), "evt-5-1");
}

// Opens a connection and sends `head` (request line and headers) and `body_part`; returns the fd.
int open_and_send(std::uint16_t port, const std::string& head, const std::string& body_part) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("connect failed");
  }
  const std::string data = head + body_part;
  if (::send(fd, data.data(), data.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(data.size())) {
    throw std::runtime_error("send failed");
  }
  return fd;
}

// Whether the server closed the connection (recv sees EOF or a reset) within `timeout`.
bool closed_within(int fd, milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      return true;
    }
    if (n < 0) {
      return false;  // timed out: still open
    }
  }
}

TEST_F(ReceiverTest, ASlowClientIsCutOffAtTheReadTimeoutWithoutHoldingOthers) {
  auto rx = start(receiver_config(), "receiver");
  const std::string body = webhook_event(3, 0);
  const std::string head = fmt::format(
      "POST /capillary/events HTTP/1.1\r\nHost: x\r\n{}\r\nContent-Type: application/json\r\n"
      "Content-Length: {}\r\n\r\n",
      kAuth, body.size());
  // One stalls after 10 bytes of its body; one trickles a byte every 300 ms.
  const int stalled = open_and_send(http_port_, head, body.substr(0, 10));
  const int trickle = open_and_send(http_port_, head, body.substr(0, 1));
  const auto started = std::chrono::steady_clock::now();
  std::atomic<bool> trickle_cut{false};
  std::thread trickler([&] {
    for (std::size_t i = 1; i < body.size(); ++i) {
      std::this_thread::sleep_for(milliseconds(300));
      if (::send(trickle, body.data() + i, 1, MSG_NOSIGNAL) != 1) {
        trickle_cut.store(true);
        return;
      }
    }
  });
  // Meanwhile others are answered at once.
  WebhookClient client(url(), kAuth, seconds(5));
  for (int i = 0; i < 20; ++i) {
    const WebhookAnswer a = client.post(webhook_event(4, static_cast<std::uint64_t>(i)));
    EXPECT_EQ(a.status, 200);
    EXPECT_LT(a.latency, std::chrono::microseconds(1'000'000)) << "held up by the slow clients";
  }
  // read_timeout_ms is 2000: both are cut off well before they could finish (the trickle
  // needs ~75 s for its body).
  EXPECT_TRUE(closed_within(stalled, seconds(6))) << "the stalled client still holds a connection";
  EXPECT_TRUE(closed_within(trickle, seconds(6))) << "the trickling client still holds one";
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_LT(waited, 8.0);
  ::shutdown(trickle, SHUT_RDWR);
  trickler.join();
  ::close(stalled);
  ::close(trickle);
  // Neither partial event was produced.
  const auto messages = broker().consume_all(n_.topic);
  EXPECT_EQ(messages.size(), 20U);
}

TEST_F(ReceiverTest, EveryEventAnsweredTwoHundredBeforeASigkillIsInTheTopic) {
  auto rx = start(receiver_config(), "receiver");
  std::atomic<bool> killed{false};
  LoadOptions until_killed = load(16, 0, [&] { return killed.load(); });
  until_killed.timeout = seconds(10);
  LoadResult r;
  std::thread loader([&] { r = run_load(until_killed); });
  // Kill once a good number of events got their 200 (measured by the receiver's metric).
  ASSERT_TRUE(wait_until(
      [&] {
        const auto m =
            metric_sum(http_get("127.0.0.1", rx->metrics_port(), "/metrics").body,
                       "capillary_bridge_receiver_events_total", {{"outcome", "produced"}});
        return m && *m >= 3000;
      },
      seconds(60), milliseconds(20)));
  rx->kill(SIGKILL);
  ASSERT_TRUE(rx->wait(seconds(10)));
  std::this_thread::sleep_for(milliseconds(500));  // in-flight requests see the connection die
  killed.store(true);
  loader.join();
  ASSERT_GE(r.acknowledged.size(), 3000U);
  EXPECT_GT(r.by_status[0], 0U) << "no request was cut by the kill: it did not hit mid-load";
  const auto messages = expect_all_in_topic(r.acknowledged);
  EXPECT_GE(messages.size(), r.acknowledged.size());
}

TEST_F(ReceiverTest, SigtermAnswersTheRequestsInFlightAndExitsZero) {
  auto rx = start(receiver_config(), "receiver");
  std::atomic<bool> done{false};
  LoadResult r;
  std::thread loader([&] { r = run_load(load(16, 0, [&] { return done.load(); })); });
  std::this_thread::sleep_for(seconds(2));
  const auto status = rx->stop(seconds(30));
  done.store(true);
  loader.join();
  ASSERT_TRUE(status) << rx->log_tail();
  EXPECT_TRUE(status->exited && status->code == 0) << to_string(*status) << rx->log_tail();
  EXPECT_GT(r.acknowledged.size(), 100U);
  expect_all_in_topic(r.acknowledged);
  EXPECT_NE(rx->log_tail().find("events produced"), std::string::npos) << rx->log_tail();
}

// End to end through a real broker: `run --with-receiver` (one process), the catalogue and the
// Platform sink into the platform-emulator binary. The webhook becomes exactly the message the
// `transform` command makes of the event: same `_id`, same entity.
TEST_F(ReceiverTest, RunWithReceiverCarriesAWebhookThroughKafkaToPlatformAsTransformSaysIt) {
  EmulatorProcess emulator(dir_, EmulatorOptions{});
  emulator.start();
  BridgeConfig cfg = receiver_config();
  cfg.command = {"run", "--with-receiver"};
  cfg.targets_and_routes_yaml = capillary_routes_yaml({n_.topic});
  cfg.sink_yaml = platform_sink_for(emulator).to_yaml();
  auto bridge = start(cfg, "bridge");
  const std::string event = make_capillary_event("e2e-webhook-1", 42);
  WebhookClient client(url(), kAuth);
  const WebhookAnswer a = client.post(event);
  ASSERT_EQ(a.status, 200) << a.body << bridge->log_tail();

  write_file(dir_.file("event.jsonl"), event + "\n");
  const auto want = run_transform(dir_, bridge->config_path(), dir_.file("event.jsonl")).messages;
  ASSERT_EQ(want.size(), 1U);
  ASSERT_NE(want.front().find("\"xdmEntity\":"), std::string::npos) << want.front();
  ASSERT_NE(want.front().find("\"_id\":\""), std::string::npos);

  std::vector<std::string> accepted;
  ASSERT_TRUE(wait_until(
      [&] {
        accepted = emulator.messages();
        return !accepted.empty();
      },
      seconds(60), milliseconds(100)))
      << bridge->log_tail() << emulator.log_tail();
  ASSERT_EQ(accepted.size(), 1U);
  EXPECT_EQ(streaming_entity(accepted.front()), streaming_entity(want.front()))
      << "Platform got:\n"
      << accepted.front() << "\ntransform says:\n"
      << want.front();
  const auto status = bridge->stop(seconds(30));
  ASSERT_TRUE(status) << bridge->log_tail();
  EXPECT_TRUE(status->exited && status->code == 0) << to_string(*status) << bridge->log_tail();
}

// Last in the suite: it stops and restarts the suite's broker.
TEST_F(ReceiverTest, WhileTheBrokerIsDownItAnswers503AndNothingAcknowledgedIsLost) {
  auto rx = start(receiver_config(), "receiver");
  std::atomic<bool> done{false};
  LoadOptions retrying = load(8, 0, [&] { return done.load(); });
  retrying.retry = true;  // as ENS does: the same event again until it gets its 200
  retrying.retry_pause = milliseconds(200);
  retrying.timeout = seconds(15);
  LoadResult r;
  std::thread loader([&] { r = run_load(retrying); });
  const auto metric = [&](const char* name, std::vector<std::pair<std::string, std::string>> l) {
    return metric_sum(http_get("127.0.0.1", rx->metrics_port(), "/metrics").body, name, l)
        .value_or(0);
  };
  ASSERT_TRUE(wait_until(
      [&] {
        return metric("capillary_bridge_receiver_events_total", {{"outcome", "produced"}}) >= 500;
      },
      seconds(60), milliseconds(50)));
  broker().stop();
  // 503s while it is down, and /readyz says so.
  EXPECT_TRUE(wait_until(
      [&] {
        return metric("capillary_bridge_receiver_requests_total", {{"status", "503"}}) >= 20;
      },
      seconds(30), milliseconds(100)))
      << rx->log_tail();
  EXPECT_TRUE(
      wait_until([&] { return http_get("127.0.0.1", rx->metrics_port(), "/readyz").status == 503; },
                 seconds(15), milliseconds(100)));
  const double produced_while_down =
      metric("capillary_bridge_receiver_events_total", {{"outcome", "produced"}});
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(metric("capillary_bridge_receiver_events_total", {{"outcome", "produced"}}),
            produced_while_down)
      << "a 200 while no broker could have acknowledged";
  broker().restart();
  EXPECT_TRUE(wait_until(
      [&] {
        return metric("capillary_bridge_receiver_events_total", {{"outcome", "produced"}}) >=
               produced_while_down + 500;
      },
      seconds(90), milliseconds(100)))
      << rx->log_tail();
  done.store(true);
  loader.join();
  EXPECT_GT(r.by_status[503], 0U);
  EXPECT_EQ(r.with_retry_after, r.by_status[503]) << "every 503 carries Retry-After";
  const auto messages = expect_all_in_topic(r.acknowledged);
  // At least once: an event may be in twice (a timed-out produce that did land, then its retry);
  // never missing.
  EXPECT_GE(messages.size(), r.acknowledged.size());
  std::cerr << fmt::format("broker outage: {} acknowledged, {} answered 503, {} in the topic\n",
                           r.acknowledged.size(), r.by_status[503], messages.size());
}

}  // namespace
}  // namespace bridge::harness

// The Platform sink's limits and deadlines against the real `platform-emulator` binary, behind a
// real broker and the real `capillary-bridge run` (catalogue transform):
//   - a request body never exceeds 1 MB (batch.max_bytes, default 1,000,000), even when ~50-100 KB
//     messages make every batch hit the cap; a 413 from a stricter server splits the batch and
//     everything still arrives; a single message over 1 MB is dead-lettered as
//     platform-too-large without being sent;
//   - Retry-After on a 503 holds the partition back at least that long;
//   - a server that never answers is timed out after http.timeout_ms;
//   - no client secret, access token or Authorization header in the debug log, /metrics or
//     dead-letter headers, and a refused secret is reported without the secret.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <csignal>
#include <iostream>
#include <thread>

#include "tests/harness/emulator.h"
#include "tests/harness/fixture.h"
#include "tests/harness/settlement.h"

namespace bridge::harness {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

double secs(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

class PlatformLimitsTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    topic_ = unique_name("it.platform");
    dlq_ = unique_name("it.dlq");
    group_ = unique_name("it.group");
  }

  // Creates the topics and produces `events` (eventId, value) keyed round-robin over partitions.
  void produce(int partitions, const std::vector<std::string>& values) {
    create_topics(topic_, partitions, dlq_);
    std::vector<ProduceMessage> batch;
    for (std::size_t i = 0; i < values.size(); ++i) {
      batch.push_back({fmt::format("cust-{}", i),
                       values[i],
                       {},
                       static_cast<std::int32_t>(i % static_cast<std::size_t>(partitions))});
    }
    broker().produce(topic_, batch);
    tracker_ = std::make_unique<SettlementTracker>(broker(), topic_, dlq_, group_);
  }

  // `n` small catalogue events.
  void produce_small(int partitions, int n) {
    std::vector<std::string> values;
    for (int i = 0; i < n; ++i) {
      values.push_back(
          make_capillary_event(fmt::format("s-{:06}", i), static_cast<std::uint64_t>(i)));
    }
    produce(partitions, values);
  }

  void start_emulator(EmulatorOptions options) {
    emulator_ = std::make_unique<EmulatorProcess>(dir_, std::move(options));
    emulator_->start();
  }

  void start_bridge(const PlatformSinkSettings& sink,
                    const std::map<std::string, std::string>& pipeline = {},
                    const std::string& log_level = "info", int drain_timeout_ms = 15000) {
    BridgeConfig cfg = bridge_config(topic_, dlq_, group_);
    cfg.targets_and_routes_yaml = capillary_routes_yaml({topic_});
    cfg.sink_yaml = sink.to_yaml();
    cfg.pipeline_settings = pipeline;
    cfg.log_level = log_level;
    cfg.drain_timeout_ms = drain_timeout_ms;
    bridge_ = std::make_unique<BridgeProcess>(dir_, "bridge", cfg);
    bridge_->start();
  }

  // Observes every 500 ms until every event is settled, the bridge exits or `timeout` passes.
  bool wait_settled(seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      tracker_->observe(emulator_.get());
      if (tracker_->settled() >= tracker_->events() || !bridge_->running()) {
        break;
      }
      std::this_thread::sleep_for(milliseconds(500));
    }
    return tracker_->settled() >= tracker_->events();
  }

  [[nodiscard]] std::string metrics() const {
    return http_get("127.0.0.1", bridge_->metrics_port(), "/metrics").body;
  }
  [[nodiscard]] double metric(
      std::string_view name,
      const std::vector<std::pair<std::string, std::string>>& labels = {}) const {
    return metric_sum(metrics(), name, labels).value_or(0.0);
  }

  [[nodiscard]] std::string diagnostics() const {
    return fmt::format("{}\n{}", bridge_->log_tail(), emulator_->log_tail(20));
  }

  // Every event settled, no committed offset ever passed an unsettled one, none both accepted
  // and dead-lettered; SIGTERM exits 0 with the commits at the high watermarks.
  void finish(bool settled) {
    ASSERT_TRUE(bridge_->running()) << "the bridge exited on its own\n" << diagnostics();
    EXPECT_TRUE(settled) << tracker_->events() - tracker_->settled() << " of " << tracker_->events()
                         << " events unsettled, e.g. "
                         << fmt::format("{}", fmt::join(tracker_->unsettled(), ", ")) << "\n"
                         << diagnostics();
    const auto st = bridge_->stop(seconds(60));
    ASSERT_TRUE(st) << "no exit within 60 s of SIGTERM\n" << diagnostics();
    EXPECT_TRUE(st->exited && st->code == 0) << to_string(*st) << "\n" << diagnostics();
    tracker_->observe(emulator_.get());
    EXPECT_EQ(tracker_->settled(), tracker_->events());
    EXPECT_EQ(tracker_->foreign(), 0U);
    EXPECT_TRUE(tracker_->both().empty());
    EXPECT_TRUE(tracker_->violations().empty())
        << fmt::format("{}", fmt::join(tracker_->violations(), "\n"));
    const auto hw = broker().high_watermarks(topic_);
    const auto committed = broker().committed_offsets(group_, topic_);
    for (const auto& [p, high] : hw) {
      EXPECT_EQ(committed.at(p), high) << "partition " << p;
    }
  }

  std::string topic_, dlq_, group_;
  std::unique_ptr<SettlementTracker> tracker_;
  std::unique_ptr<EmulatorProcess> emulator_;
  std::unique_ptr<BridgeProcess> bridge_;
};

// ~50-100 KB ExperienceEvents (100-200 line items of 400 characters).
std::vector<std::string> large_events(int n) {
  std::vector<std::string> values;
  for (int i = 0; i < n; ++i) {
    values.push_back(make_capillary_event(fmt::format("l-{:05}", i), static_cast<std::uint64_t>(i),
                                          100 + static_cast<std::size_t>(i * 37 % 101), 400));
  }
  return values;
}

TEST_F(PlatformLimitsTest, RequestsNeverExceedOneMegabyteEvenWhenEveryBatchHitsTheCap) {
  constexpr int kEvents = 300;
  const auto values = large_events(kEvents);
  ASSERT_GE(values.front().size(), 40'000U);
  produce(3, values);
  start_emulator({});
  start_bridge(platform_sink_for(*emulator_));
  const bool settled = wait_settled(seconds(90));
  const std::string exposition = metrics();
  finish(settled);

  const EmulatorStats stats = emulator_->stats();
  EXPECT_EQ(stats.unique_ids, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(stats.requests, stats.status(207)) << fmt::format("{}", stats.by_status);
  EXPECT_LE(stats.max_request_bytes_seen, 1'000'000U);
  EXPECT_GT(stats.max_request_bytes_seen, 900'000U) << "no batch came near the cap";
  // The bridge's own histogram: every request within the 1,000,000 bucket, some above 768 KiB.
  const auto buckets = histogram_buckets(exposition, "capillary_bridge_platform_batch_bytes");
  ASSERT_FALSE(buckets.empty()) << exposition;
  double at_cap = -1;
  double above_768k = -1;
  const double total = buckets.back().second;
  for (const auto& [le, count] : buckets) {
    if (le == 1'000'000.0) {
      at_cap = count;
    }
    if (le == 786'432.0) {
      above_768k = total - count;
    }
  }
  EXPECT_EQ(at_cap, total) << "a request above 1,000,000 bytes";
  EXPECT_GT(above_768k, 0.0);
  EXPECT_EQ(total, static_cast<double>(stats.requests));
  std::cerr << fmt::format(
      "{} requests, {:.0f} bytes per request, largest {} bytes\n", stats.requests,
      static_cast<double>(stats.bytes_received) / static_cast<double>(stats.requests),
      stats.max_request_bytes_seen);
}

TEST_F(PlatformLimitsTest, Status413SplitsTheBatchAndEverythingArrives) {
  constexpr int kEvents = 200;
  produce(3, large_events(kEvents));
  start_emulator({.args = {"--max-request-bytes", "300000"}});
  start_bridge(platform_sink_for(*emulator_));
  const bool settled = wait_settled(seconds(90));
  const double split_resends =
      metric("capillary_bridge_platform_resends_total", {{"reason", "split"}});
  const double bridge_413s =
      metric("capillary_bridge_platform_requests_total", {{"status", "413"}});
  finish(settled);
  const EmulatorStats stats = emulator_->stats();
  EXPECT_GE(stats.status(413), 1U) << fmt::format("{}", stats.by_status);
  EXPECT_EQ(bridge_413s, static_cast<double>(stats.status(413)));
  EXPECT_GE(split_resends, 1.0);
  EXPECT_EQ(stats.unique_ids, static_cast<std::uint64_t>(kEvents));
  EXPECT_TRUE(tracker_->dead_letters().empty());
  EXPECT_EQ(tracker_->duplicates(), 0U) << "a 413 accepts nothing";
  std::cerr << fmt::format("requests {}\n", stats.by_status);
}

TEST_F(PlatformLimitsTest, MessageOverOneMegabyteIsDeadLetteredWithoutBeingSent) {
  std::vector<std::string> values;
  for (int i = 0; i < 100; ++i) {
    values.push_back(
        make_capillary_event(fmt::format("s-{:03}", i), static_cast<std::uint64_t>(i)));
  }
  const std::string big_id = "huge-1";
  values.insert(values.begin() + 50, make_capillary_event(big_id, 4242, 2300, 400));
  ASSERT_GT(values[50].size(), 1'100'000U);
  ASSERT_LT(values[50].size(), 1'300'000U);
  produce(3, values);
  start_emulator({});
  start_bridge(platform_sink_for(*emulator_), {{"max_event_bytes", "4MiB"}});
  const bool settled = wait_settled(seconds(60));
  const double too_large =
      metric("capillary_bridge_platform_messages_total", {{"outcome", "too_large"}});
  finish(settled);
  ASSERT_EQ(tracker_->dead_letters().size(), 1U);
  const DeadLetterRecord& letter = tracker_->dead_letters().front();
  EXPECT_EQ(letter.event_id, big_id);
  EXPECT_EQ(letter.reason, "platform-too-large");
  EXPECT_NE(letter.message.find("1000000"), std::string::npos) << letter.message;
  EXPECT_EQ(too_large, 1.0);
  const EmulatorStats stats = emulator_->stats();
  EXPECT_EQ(stats.unique_ids, 100U);
  EXPECT_LT(stats.max_request_bytes_seen, 1'000'000U) << "the oversized message was sent";
  EXPECT_EQ(stats.status(413), 0U);
}

// One partition, so every request is that partition's: after a 503 with Retry-After: 3 the next
// request may come no sooner than 3 s later. The emulator's request counter is polled every 20 ms.
TEST_F(PlatformLimitsTest, RetryAfterHoldsThePartitionBack) {
  constexpr int kEvents = 2000;
  produce_small(1, kEvents);
  start_emulator({.args = {"--fail", "503=1.0", "--retry-after", "3"}});
  start_bridge(platform_sink_for(*emulator_));
  // Per request seen while the fault is on: it arrived after `not_yet` (the start of the last
  // poll that did not count it) and before `seen` (the end of the poll that did).
  struct Arrival {
    Clock::time_point not_yet, seen;
  };
  std::vector<Arrival> arrivals;
  std::uint64_t counted = 0;
  Clock::time_point last_poll = Clock::now();
  const auto fault_until = Clock::now() + seconds(11);
  while (Clock::now() < fault_until) {
    const auto before = Clock::now();
    const std::uint64_t n = emulator_->stats().requests;
    for (; counted < n; ++counted) {
      arrivals.push_back({last_poll, Clock::now()});
    }
    last_poll = before;
    std::this_thread::sleep_for(milliseconds(20));
  }
  const EmulatorStats during = emulator_->stats();
  emulator_->clear_faults();
  const bool settled = wait_settled(seconds(60));
  finish(settled);

  EXPECT_EQ(during.messages_accepted, 0U);
  EXPECT_EQ(during.requests, during.status(503)) << fmt::format("{}", during.by_status);
  ASSERT_GE(arrivals.size(), 2U) << "fewer than two requests in 11 s of 503s\n" << diagnostics();
  // A lower bound of each gap: the later request came after its `not_yet`, the earlier one
  // before its `seen`.
  std::vector<double> gaps;
  for (std::size_t i = 1; i < arrivals.size(); ++i) {
    gaps.push_back(secs(arrivals[i].not_yet - arrivals[i - 1].seen));
  }
  std::cerr << fmt::format("requests during 503 + Retry-After 3: {}; gaps at least {::.2f} s\n",
                           arrivals.size(), gaps);
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    EXPECT_GE(gaps[i], 2.8) << "request " << i + 1 << " came " << gaps[i]
                            << " s after the previous 503 with Retry-After: 3";
  }
  EXPECT_LE(arrivals.size(), 4U);
  EXPECT_EQ(emulator_->stats().unique_ids, static_cast<std::uint64_t>(kEvents));
}

// Every request is held unanswered; with http.timeout_ms 2000 the bridge gives up on each after
// 2 s (counted as status="timeout"), then delivers everything once the server answers again.
TEST_F(PlatformLimitsTest, ServerThatNeverAnswersIsTimedOut) {
  constexpr int kEvents = 1000;
  produce_small(3, kEvents);
  start_emulator({.args = {"--hang-rate", "1.0"}});
  PlatformSinkSettings sink = platform_sink_for(*emulator_);
  sink.timeout_ms = 2000;
  start_bridge(sink);
  Clock::time_point first_hang{};
  Clock::time_point first_timeout{};
  const bool timed_out = wait_until(
      [&] {
        if (first_hang == Clock::time_point{} && emulator_->stats().hangs > 0) {
          first_hang = Clock::now();
        }
        if (metric("capillary_bridge_platform_requests_total", {{"status", "timeout"}}) > 0) {
          first_timeout = Clock::now();
          return true;
        }
        return !bridge_->running();
      },
      seconds(30), milliseconds(50));
  ASSERT_TRUE(timed_out && first_timeout != Clock::time_point{})
      << "no request timed out within 30 s\n"
      << diagnostics();
  ASSERT_NE(first_hang, Clock::time_point{});
  const double after = secs(first_timeout - first_hang);
  std::cerr << fmt::format("first timeout {:.2f} s after the first held request\n", after);
  EXPECT_GE(after, 1.5) << "timed out before http.timeout_ms";
  EXPECT_LE(after, 6.0) << "http.timeout_ms 2000 was not enforced";
  EXPECT_EQ(emulator_->stats().messages_accepted, 0U);
  emulator_->clear_faults();
  const bool settled = wait_settled(seconds(60));
  finish(settled);
  EXPECT_EQ(emulator_->stats().unique_ids, static_cast<std::uint64_t>(kEvents));
}

constexpr std::string_view kSecret = "s3cr3t-VALUE-42";

// Whether `text` holds a run of exactly 48 lowercase hex digits: the shape of the emulator's
// access tokens (the 64-digit inlet id is a longer run and does not count).
bool has_token_shape(std::string_view text) {
  std::size_t run = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const bool hex = i < text.size() && std::isxdigit(static_cast<unsigned char>(text[i])) != 0 &&
                     std::isupper(static_cast<unsigned char>(text[i])) == 0;
    if (hex) {
      ++run;
      continue;
    }
    if (run == 48) {
      return true;
    }
    run = 0;
  }
  return false;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Fails the test for every secret-looking thing in `text` (named `what` in the message).
void expect_no_secret(const std::string& what, const std::string& text) {
  const std::string l = lower(text);
  EXPECT_EQ(l.find(lower(kSecret)), std::string::npos) << what << " holds the client secret";
  EXPECT_EQ(l.find("s3cr3t"), std::string::npos) << what << " holds part of the client secret";
  EXPECT_EQ(l.find("bearer"), std::string::npos) << what << " holds an Authorization header";
  EXPECT_EQ(l.find("access_token"), std::string::npos) << what << " holds a token response";
  EXPECT_FALSE(has_token_shape(text)) << what << " holds a 48-hex-digit access token";
}

TEST(PlatformSecretShape, TheTokenShapeCheckCanFire) {
  EXPECT_TRUE(
      has_token_shape("Authorization: Bearer 0123456789abcdef0123456789abcdef0123456789abcdef"));
  EXPECT_FALSE(has_token_shape(
      "/collection/d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2"));
}

// Debug logging, 503s, refused messages (dead letters) and a forced token expiry: the log, the
// metrics and the dead-letter headers never carry the client secret or an access token.
TEST_F(PlatformLimitsTest, NoSecretOrTokenInDebugLogsMetricsOrDeadLetters) {
  constexpr int kEvents = 3000;
  produce_small(3, kEvents);
  start_emulator({.client_secret = std::string(kSecret),
                  .args = {"--fail", "503=0.1", "--message-fail", "400=0.05", "--seed", "5"}});
  PlatformSinkSettings sink = platform_sink_for(*emulator_);
  sink.messages_per_second = 1000;  // about 3 s of traffic, so the expiry lands mid-stream
  sink.max_messages = 100;
  start_bridge(sink, {}, "debug");
  ASSERT_TRUE(wait_until([&] { return emulator_->stats().messages_accepted > 500; }, seconds(60)))
      << diagnostics();
  emulator_->expire_tokens();
  const bool settled = wait_settled(seconds(60));
  const std::string exposition = metrics();
  finish(settled);

  const EmulatorStats stats = emulator_->stats();
  EXPECT_GE(stats.tokens_issued, 2U) << "the forced expiry did not make the bridge refresh";
  EXPECT_GE(stats.auth_failures, 1U);
  EXPECT_GT(tracker_->dead_letters().size(), 0U);
  const std::string log = read_file(bridge_->log_path());
  ASSERT_NE(log.find(" debug "), std::string::npos) << "the bridge did not log at debug level";
  expect_no_secret("the bridge log", log);
  expect_no_secret("/metrics", exposition);
  ASSERT_FALSE(exposition.empty());
  for (const auto& letter : tracker_->dead_letters()) {
    for (const auto& [name, value] : letter.headers) {
      expect_no_secret(fmt::format("dead-letter header {} of {}", name, letter.event_id),
                       name + ": " + value);
    }
  }
}

// IMS refuses the bridge's (wrong) secret: the log names the failure, never the secret; nothing
// is sent to the collection endpoint and nothing is committed.
TEST_F(PlatformLimitsTest, RefusedSecretIsReportedWithoutTheSecret) {
  produce_small(3, 100);
  start_emulator({.client_secret = std::string(kSecret)});
  PlatformSinkSettings sink = platform_sink_for(*emulator_);
  sink.client_secret = "wr0ng-s3cr3t-VALUE-43";
  start_bridge(sink, {}, "debug", 3000);
  ASSERT_TRUE(
      wait_until([&] { return emulator_->stats().token_requests_refused >= 2; }, seconds(30)))
      << diagnostics();
  double errors = 0;
  EXPECT_TRUE(wait_until(
      [&] {
        errors = metric("capillary_bridge_platform_token_refreshes_total", {{"result", "error"}});
        return errors >= 2.0;
      },
      seconds(30)))
      << diagnostics();
  const std::string exposition = metrics();
  const auto committed = broker().committed_offsets(group_, topic_);
  ASSERT_TRUE(bridge_->running()) << diagnostics();
  const auto st = bridge_->stop(seconds(30));
  ASSERT_TRUE(st) << "no exit within 30 s of SIGTERM\n" << diagnostics();

  const EmulatorStats stats = emulator_->stats();
  EXPECT_EQ(stats.tokens_issued, 0U);
  EXPECT_EQ(stats.requests, 0U) << "a collection request went out without a token";
  EXPECT_GE(errors, 2.0);
  for (const auto& [p, offset] : committed) {
    EXPECT_LE(offset, 0) << "partition " << p << " committed with nothing delivered";
  }
  const std::string log = read_file(bridge_->log_path());
  EXPECT_NE(log.find("IMS token request failed"), std::string::npos) << bridge_->log_tail();
  EXPECT_NE(log.find(fmt::format("HTTP 401 from {}", emulator_->token_url())), std::string::npos)
      << bridge_->log_tail();
  expect_no_secret("the bridge log", log);
  EXPECT_EQ(lower(log).find("wr0ng"), std::string::npos) << "the log holds the wrong secret";
  expect_no_secret("/metrics", exposition);
}

}  // namespace
}  // namespace bridge::harness

// At-least-once through the Platform sink: 100,000 Capillary transactionAdded events over 6
// partitions, the real `capillary-bridge run` with the catalogue and `sink: platform`, and the
// real `platform-emulator` standing in for IMS and Platform, once cleanly and once per fault:
// 20% of requests 503, a 30 s 429 storm with Retry-After, the emulator SIGKILLed and restarted,
// 10 s tokens plus a forced expiry, 1% of messages refused with 400.
//
// Every scenario: every event is accepted by the emulator or (only when messages are refused)
// dead-lettered, never both; the emulator's distinct `_id` count equals the accepted events;
// the offsets committed on SIGTERM equal the high watermarks; and during the run no committed
// offset ever passes a record that was neither accepted nor dead-lettered (the committed offsets
// are sampled about once a second; see tests/harness/settlement.h).

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <functional>
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

constexpr int kEvents = 100'000;
constexpr int kPartitions = 6;
constexpr int kCustomers = 997;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Scenario {
  std::vector<std::string> emulator_args = {};
  // Changes to the sink settings (the emulator's URL and credentials are filled in already).
  std::function<void(PlatformSinkSettings&)> sink = {};
  bool dead_letters_expected = false;
  seconds deadline{150};  // for every event to be settled after the bridge starts
};

class PlatformDeliveryTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    topic_ = unique_name("it.platform");
    dlq_ = unique_name("it.dlq");
    group_ = unique_name("it.group");
    create_topics(topic_, kPartitions, dlq_);
    std::vector<ProduceMessage> batch;
    batch.reserve(kEvents);
    for (int i = 0; i < kEvents; ++i) {
      batch.push_back({fmt::format("cust-{}", i % kCustomers),
                       make_capillary_event(fmt::format("p-{:06}", i),
                                            static_cast<std::uint64_t>(i % kCustomers)),
                       {}});
    }
    broker().produce(topic_, batch);
    tracker_ = std::make_unique<SettlementTracker>(broker(), topic_, dlq_, group_);
    ASSERT_EQ(tracker_->events(), static_cast<std::size_t>(kEvents));
    for (const auto& [p, high] : tracker_->high_watermarks()) {
      ASSERT_GT(high, 0) << "partition " << p << " got no events";
    }
  }

  // Starts the emulator and the bridge.
  void start(const Scenario& scenario) {
    emulator_ =
        std::make_unique<EmulatorProcess>(dir_, EmulatorOptions{.args = scenario.emulator_args});
    emulator_->start();
    PlatformSinkSettings sink = platform_sink_for(*emulator_);
    if (scenario.sink) {
      scenario.sink(sink);
    }
    BridgeConfig cfg = bridge_config(topic_, dlq_, group_);
    cfg.targets_and_routes_yaml = capillary_routes_yaml({topic_});
    cfg.sink_yaml = sink.to_yaml();
    bridge_ = std::make_unique<BridgeProcess>(dir_, "bridge", cfg);
    bridge_->start();
    started_ = Clock::now();
  }

  // Observes every ~second until every event is settled, the bridge exits or `deadline` passes;
  // `during` runs every 100 ms in between (fault injection, sampling).
  bool run_until_settled(const Scenario& scenario, const std::function<void()>& during = {}) {
    const auto deadline = started_ + scenario.deadline;
    while (Clock::now() < deadline) {
      tracker_->observe(emulator_ && emulator_->running() ? emulator_.get() : nullptr);
      if (tracker_->settled() >= tracker_->events() || !bridge_->running()) {
        break;
      }
      const auto next = Clock::now() + milliseconds(1000);
      while (Clock::now() < next) {
        if (during) {
          during();
        }
        std::this_thread::sleep_for(milliseconds(100));
      }
    }
    settled_after_ = since(started_);
    return tracker_->settled() >= tracker_->events();
  }

  // Share of the events the emulator (this life) has accepted: a cheap progress probe.
  [[nodiscard]] double progress() const {
    return static_cast<double>(emulator_->stats().messages_accepted) /
           static_cast<double>(tracker_->events());
  }

  [[nodiscard]] std::string diagnostics() const {
    return fmt::format("{}\n{}", bridge_->log_tail(), emulator_->log_tail(20));
  }

  [[nodiscard]] std::string metrics() const {
    return http_get("127.0.0.1", bridge_->metrics_port(), "/metrics").body;
  }

  // The assertions every scenario shares; `metrics_text` is the bridge's /metrics before SIGTERM.
  void finish(const Scenario& scenario, bool settled) {
    ASSERT_TRUE(bridge_->running()) << "the bridge exited on its own\n" << diagnostics();
    EXPECT_TRUE(settled) << tracker_->events() - tracker_->settled() << " of " << kEvents
                         << " events neither accepted nor dead-lettered after "
                         << scenario.deadline.count() << " s, e.g. "
                         << fmt::format("{}", fmt::join(tracker_->unsettled(), ", ")) << "\n"
                         << diagnostics();
    final_metrics_ = metrics();
    const auto st = bridge_->stop(seconds(60));
    ASSERT_TRUE(st) << "no exit within 60 s of SIGTERM\n" << diagnostics();
    EXPECT_TRUE(st->exited && st->code == 0) << to_string(*st) << "\n" << diagnostics();
    tracker_->observe(emulator_.get());

    EXPECT_EQ(tracker_->settled(), tracker_->events());
    EXPECT_EQ(tracker_->accepted_unique() + tracker_->dead_letters().size(),
              static_cast<std::size_t>(kEvents));
    EXPECT_EQ(tracker_->foreign(), 0U) << "accepted messages that are not this test's events";
    EXPECT_TRUE(tracker_->both().empty())
        << tracker_->both().size() << " events both accepted and dead-lettered, e.g. "
        << tracker_->both().front();
    EXPECT_TRUE(tracker_->violations().empty())
        << tracker_->violations().size() << " committed offsets passed unsettled records:\n"
        << fmt::format("{}", fmt::join(tracker_->violations(), "\n"));
    EXPECT_GT(tracker_->partial_commits_checked(), 0U)
        << "no commit was observed mid-stream: the no-passing check saw nothing";
    if (!scenario.dead_letters_expected) {
      EXPECT_TRUE(tracker_->dead_letters().empty())
          << tracker_->dead_letters().size()
          << " dead letters, the first: " << tracker_->dead_letters().front().reason << ": "
          << tracker_->dead_letters().front().message;
    }
    const auto hw = broker().high_watermarks(topic_);
    const auto committed = broker().committed_offsets(group_, topic_);
    for (const auto& [p, high] : hw) {
      EXPECT_EQ(committed.at(p), high) << "partition " << p;
    }
    const EmulatorStats stats = emulator_->stats();
    EXPECT_EQ(stats.accepted_without_id, 0U);
    std::cerr << fmt::format(
        "settled {} events in {:.1f} s ({} accepted, {} dead letters, {} duplicates) over {} "
        "observations ({} mid-stream commits checked); emulator (this life): {} requests {}, {} "
        "tokens issued, {} auth failures\n",
        tracker_->settled(), settled_after_, tracker_->accepted_unique(),
        tracker_->dead_letters().size(), tracker_->duplicates(), tracker_->observations(),
        tracker_->partial_commits_checked(), stats.requests, fmt::format("{}", stats.by_status),
        stats.tokens_issued, stats.auth_failures);
  }

  [[nodiscard]] double metric(
      std::string_view name,
      const std::vector<std::pair<std::string, std::string>>& labels = {}) const {
    return metric_sum(final_metrics_, name, labels).value_or(0.0);
  }

  std::string topic_, dlq_, group_;
  std::unique_ptr<SettlementTracker> tracker_;
  std::unique_ptr<EmulatorProcess> emulator_;
  std::unique_ptr<BridgeProcess> bridge_;
  Clock::time_point started_;
  double settled_after_ = 0;
  std::string final_metrics_;
};

// (a) Clean run with the sink's default batching, concurrency and rate limits: every event is
// accepted exactly once, and the default client-side limit of 10,000 messages/s holds.
TEST_F(PlatformDeliveryTest, CleanRunOnDefaultsAcceptsEveryEventOnce) {
  const Scenario scenario;
  start(scenario);
  // When the emulator accepted its first and its last message, to 50 ms.
  Clock::time_point first_accept{};
  Clock::time_point all_accepted{};
  std::atomic<bool> done{false};
  std::thread timer([&] {
    while (!done.load() && all_accepted == Clock::time_point{}) {
      const std::uint64_t n = emulator_->stats().messages_accepted;
      if (n > 0 && first_accept == Clock::time_point{}) {
        first_accept = Clock::now();
      }
      if (n >= static_cast<std::uint64_t>(kEvents)) {
        all_accepted = Clock::now();
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  const bool settled = run_until_settled(scenario);
  done.store(true);
  timer.join();
  finish(scenario, settled);
  const double accepting_for = std::chrono::duration<double>(all_accepted - first_accept).count();
  const EmulatorStats stats = emulator_->stats();
  EXPECT_EQ(stats.messages_accepted, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(stats.unique_ids, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(tracker_->duplicates(), 0U);
  EXPECT_EQ(stats.requests, stats.status(207)) << "every request answered 207";
  EXPECT_EQ(stats.messages_rejected + stats.messages_failed_retryable, 0U);
  EXPECT_EQ(metric("capillary_bridge_platform_messages_total", {{"outcome", "accepted"}}), kEvents);
  EXPECT_EQ(metric("capillary_bridge_platform_requests_total", {{"status", "207"}}),
            static_cast<double>(stats.requests));
  EXPECT_EQ(metric("capillary_bridge_sink_retries_total"), 0.0);
  std::cerr << fmt::format("first to last acceptance: {:.2f} s\n", accepting_for);
  // 10,000 messages/s with a burst of 1,000: 100,000 messages need at least 9.9 s.
  EXPECT_GE(accepting_for, 9.5) << "the default rate limit (10,000 messages/s) did not hold";
  EXPECT_GT(metric("capillary_bridge_platform_rate_limit_wait_seconds_total"), 0.0);
}

// (b) A fifth of all requests fail with 503 (no Retry-After): the partitions back off and resend;
// nothing is lost and nothing accepted is sent twice.
TEST_F(PlatformDeliveryTest, TwentyPercentOf503sLoseNothing) {
  const Scenario scenario{.emulator_args = {"--fail", "503=0.2", "--seed", "7"},
                          .sink = [](PlatformSinkSettings& s) { s.messages_per_second = 100000; }};
  start(scenario);
  const bool settled = run_until_settled(scenario);
  finish(scenario, settled);
  const EmulatorStats stats = emulator_->stats();
  EXPECT_EQ(stats.unique_ids, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(tracker_->duplicates(), 0U) << "a 503 accepts nothing, so nothing may arrive twice";
  EXPECT_GE(stats.status(503), stats.requests / 10) << fmt::format("{}", stats.by_status);
  EXPECT_LE(stats.status(503), stats.requests * 3 / 10) << fmt::format("{}", stats.by_status);
  EXPECT_EQ(metric("capillary_bridge_platform_requests_total", {{"status", "503"}}),
            static_cast<double>(stats.status(503)));
  EXPECT_GT(metric("capillary_bridge_sink_retries_total"), 0.0);
}

// (c) A 30 s storm in which every request is answered 429 with Retry-After: 1. While it lasts,
// no partition may send more than once per second: over any window shorter than 0.95 s the
// emulator sees at most 2 requests per partition (1 is the exact bound) (a bridge that ignored
// Retry-After would retry after its 100 ms initial backoff), and over the whole storm at most 30 s
// / 1 s x 6 x 1.5.
TEST_F(PlatformDeliveryTest, StormOf429sHonoursRetryAfterAndLosesNothing) {
  constexpr int kStormMs = 30'000;
  const Scenario scenario{.sink = [](PlatformSinkSettings& s) { s.messages_per_second = 100000; },
                          .deadline = seconds(180)};
  start(scenario);
  // The emulator took its snapshot somewhere in [before, after].
  struct Sample {
    Clock::time_point before, after;
    std::uint64_t throttled = 0;
    std::uint64_t accepted = 0;
  };
  std::vector<Sample> samples;
  bool stormed = false;
  const bool settled = run_until_settled(scenario, [&] {
    if (stormed || progress() < 0.2) {
      return;
    }
    stormed = true;
    emulator_->set_faults(fmt::format(R"({{"storm_ms":{},"retry_after":"1"}})", kStormMs));
    const auto storm_start = Clock::now();
    // Sample every 100 ms until the storm is over (the emulator measures it from the PUT).
    while (Clock::now() < storm_start + milliseconds(kStormMs - 200)) {
      const auto before = Clock::now();
      const EmulatorStats s = emulator_->stats();
      samples.push_back({before, Clock::now(), s.status(429), s.messages_accepted});
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  ASSERT_TRUE(stormed) << "the storm never started\n" << diagnostics();
  finish(scenario, settled);
  ASSERT_GT(samples.size(), 100U);
  const std::uint64_t storm_requests = samples.back().throttled - samples.front().throttled;
  EXPECT_GE(storm_requests, static_cast<std::uint64_t>(kPartitions))
      << "the storm hardly saw any request";
  EXPECT_LE(storm_requests, static_cast<std::uint64_t>(kStormMs / 1000 * kPartitions * 3 / 2));
  // Between two snapshots at most after_j - before_i apart; under 1 s, so with Retry-After: 1
  // each partition can have sent at most once (bounded here at twice, for slack).
  std::uint64_t worst = 0;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    for (std::size_t j = i + 1;
         j < samples.size() && samples[j].after - samples[i].before <= milliseconds(950); ++j) {
      worst = std::max(worst, samples[j].throttled - samples[i].throttled);
    }
  }
  EXPECT_LE(worst, static_cast<std::uint64_t>(2 * kPartitions))
      << "more requests within 0.95 s of the storm than Retry-After: 1 allows";
  // Inside the storm nothing is accepted (the samples start just after the PUT took effect).
  EXPECT_EQ(samples.back().accepted, samples[5].accepted);
  std::cerr << fmt::format(
      "storm: {} requests answered 429 in {:.1f} s; at most {} in 0.95 s\n", storm_requests,
      std::chrono::duration<double>(samples.back().after - samples.front().before).count(), worst);
  const EmulatorStats stats = emulator_->stats();
  EXPECT_EQ(stats.unique_ids, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(tracker_->duplicates(), 0U);
  EXPECT_GT(metric("capillary_bridge_sink_backoff_seconds_total"), 0.0);
}

// (d) The emulator is SIGKILLed with requests in flight and restarted on the same port. Before
// the kill every new request is held unanswered (hang_rate 1), so the accepted messages read just
// before the kill are all this life will ever accept; the held requests die with the process.
// The new emulator knows none of the old tokens, so the bridge also goes through 401 -> refresh.
TEST_F(PlatformDeliveryTest, EmulatorKilledAndRestartedMidStreamLosesNothing) {
  const Scenario scenario{.sink = [](PlatformSinkSettings& s) { s.messages_per_second = 100000; }};
  start(scenario);
  bool restarted = false;
  std::size_t accepted_before_kill = 0;
  const bool settled = run_until_settled(scenario, [&] {
    if (restarted || progress() < 0.3) {
      return;
    }
    restarted = true;
    emulator_->set_faults(R"({"hang_rate":1.0})");
    // Answers already under way go out: wait until every request received so far is answered
    // (its messages recorded) or held, and one is held; every later one is held too.
    const bool quiet = wait_until(
        [&] {
          const EmulatorStats s = emulator_->stats();
          std::uint64_t decided = s.hangs + s.resets;
          for (const auto& [status, n] : s.by_status) {
            decided += n;
          }
          return s.hangs > 0 && decided == s.requests;
        },
        seconds(10), milliseconds(20));
    EXPECT_TRUE(quiet) << "requests still being answered 10 s after hang_rate 1";
    tracker_->observe(emulator_.get());
    accepted_before_kill = tracker_->accepted_unique();
    EXPECT_GT(emulator_->stats().hangs, 0U) << "no request was in flight at the kill";
    emulator_->kill(SIGKILL);
    ASSERT_TRUE(emulator_->wait(seconds(10)));
    tracker_->emulator_restarted();
    std::this_thread::sleep_for(seconds(2));  // the scenario: the emulator stays down 2 s
    tracker_->observe(nullptr);               // committed offsets while it is down
    emulator_->start();
  });
  ASSERT_TRUE(restarted) << "the emulator was never restarted\n" << diagnostics();
  finish(scenario, settled);
  std::cerr << fmt::format("the first emulator life accepted {} events\n", accepted_before_kill);
  EXPECT_GT(accepted_before_kill, 0U);
  EXPECT_LT(accepted_before_kill, static_cast<std::size_t>(kEvents));
  const EmulatorStats stats = emulator_->stats();  // the second life
  EXPECT_EQ(stats.unique_ids + accepted_before_kill, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(tracker_->duplicates(), 0U)
      << "nothing the first life accepted was unanswered, so nothing should arrive twice";
  EXPECT_GE(stats.auth_failures, 1U) << "the restarted emulator never refused the old token";
  EXPECT_GE(stats.tokens_issued, 1U);
  EXPECT_GT(metric("capillary_bridge_platform_requests_total", {{"status", "connection"}}), 0.0)
      << "no request failed with a connection error";
  EXPECT_GE(metric("capillary_bridge_platform_token_refreshes_total", {{"result", "ok"}}), 2.0);
}

// (e) Tokens live 10 s and the stream ~30 s (3,500 messages/s), so the bridge refreshes ahead of
// expiry several times; one expire_tokens() mid-stream forces 401 -> refresh -> resend.
TEST_F(PlatformDeliveryTest, ShortLivedTokensAndAForcedExpiryLoseNothing) {
  const Scenario scenario{.emulator_args = {"--token-ttl", "10"},
                          .sink = [](PlatformSinkSettings& s) { s.messages_per_second = 3500; }};
  start(scenario);
  bool expired = false;
  std::uint64_t auth_failures_before = 0;
  const bool settled = run_until_settled(scenario, [&] {
    if (expired || progress() < 0.4) {
      return;
    }
    expired = true;
    auth_failures_before = emulator_->stats().auth_failures;
    emulator_->expire_tokens();
  });
  ASSERT_TRUE(expired) << diagnostics();
  finish(scenario, settled);
  EXPECT_GE(settled_after_, 20.0) << "the stream was too short for two refreshes";
  const EmulatorStats stats = emulator_->stats();
  EXPECT_EQ(stats.unique_ids, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(tracker_->duplicates(), 0U);
  EXPECT_GT(stats.auth_failures, auth_failures_before) << "expire_tokens() caused no 401";
  EXPECT_GE(stats.tokens_issued, 3U);
  EXPECT_GE(metric("capillary_bridge_platform_token_refreshes_total", {{"result", "ok"}}), 3.0)
      << "first token plus at least two refreshes";
  EXPECT_GE(metric("capillary_bridge_platform_resends_total", {{"reason", "reauth"}}), 1.0);
  EXPECT_EQ(metric("capillary_bridge_platform_auth_failing"), 0.0);
}

// (f) 1% of messages are refused with a per-message 400 inside the 207: each is dead-lettered
// once with reason platform-rejected and Platform's message, never resent, never also accepted.
TEST_F(PlatformDeliveryTest, PerMessage400sAreDeadLetteredWithPlatformsMessage) {
  const Scenario scenario{.emulator_args = {"--message-fail", "400=0.01", "--seed", "11"},
                          .sink = [](PlatformSinkSettings& s) { s.messages_per_second = 100000; },
                          .dead_letters_expected = true};
  start(scenario);
  const bool settled = run_until_settled(scenario);
  finish(scenario, settled);
  const EmulatorStats stats = emulator_->stats();
  const std::size_t dead = tracker_->dead_letters().size();
  EXPECT_GE(dead, static_cast<std::size_t>(kEvents / 200));
  EXPECT_LE(dead, static_cast<std::size_t>(kEvents * 3 / 200));
  EXPECT_EQ(stats.messages_rejected, dead) << "a refused message was sent again";
  EXPECT_EQ(stats.unique_ids + dead, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(tracker_->duplicates(), 0U);
  EXPECT_EQ(metric("capillary_bridge_platform_messages_total", {{"outcome", "rejected"}}),
            static_cast<double>(dead));
  std::size_t wrong = 0;
  for (const auto& letter : tracker_->dead_letters()) {
    const EventLocation& at = tracker_->where(letter.event_id);
    const bool ok = letter.reason == "platform-rejected" &&
                    letter.message.find("injected by platform-emulator") != std::string::npos &&
                    letter.message.find("400") != std::string::npos &&
                    letter.source == fmt::format("{}/{}/{}", topic_, at.partition, at.offset);
    if (!ok && ++wrong <= 3) {
      ADD_FAILURE() << "dead letter of " << letter.event_id << ": reason '" << letter.reason
                    << "', message '" << letter.message << "', source '" << letter.source << "'";
    }
  }
  EXPECT_EQ(wrong, 0U);
}

}  // namespace
}  // namespace bridge::harness

// `capillary-bridge redrive` end to end: a real broker, the real binary and the real
// platform-emulator. Dead letters made by the bridge itself (a mapping gap, Platform refusing
// messages) and letters written straight to the topic (to know exactly what is there, and when)
// go back through the current routes and sink; what fails again goes back to the dead-letter
// topic with an attempt count; the redrive group's committed offset says how far it got, so a
// SIGKILLed redrive run again finishes the job without losing a letter.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <ctime>
#include <sstream>
#include <thread>

#include "tests/harness/emulator.h"
#include "tests/harness/fixture.h"

namespace bridge::harness {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

std::uint64_t customer(int i, int customers) {
  return static_cast<std::uint64_t>(i % customers);
}

// UTC, whole seconds (rounded down).
std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

class RedriveTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    names_ = unique_names();
    emulator_ = std::make_unique<EmulatorProcess>(dir_, EmulatorOptions{});
    emulator_->start();
  }

  // A bridge config on `topics` with the Capillary routes on `routed` and the Platform sink.
  BridgeConfig config(const std::vector<std::string>& topics,
                      const std::vector<std::string>& routed,
                      const std::function<void(PlatformSinkSettings&)>& sink = {}) const {
    BridgeConfig cfg = bridge_config(topics.front(), names_.dlq, names_.group);
    cfg.topics = topics;
    cfg.targets_and_routes_yaml = capillary_routes_yaml(routed);
    PlatformSinkSettings settings = platform_sink_for(*emulator_);
    if (sink) {
      sink(settings);
    }
    cfg.sink_yaml = settings.to_yaml();
    return cfg;
  }

  // Runs `capillary-bridge redrive <flags> -c <config>` to its end; its exit code and output.
  struct Run {
    int code = -1;
    std::string output;
  };
  Run redrive(BridgeConfig cfg, std::vector<std::string> flags, const std::string& name,
              seconds timeout = seconds(120)) {
    flags.insert(flags.begin(), "redrive");
    cfg.command = flags;
    BridgeProcess process(dir_, name, cfg);
    process.start();
    const auto status = process.wait(timeout);
    Run run;
    run.output = process.log_tail(80);
    if (status && status->exited) {
      run.code = status->code;
    }
    return run;
  }

  // Waits until the emulator has accepted `n` messages with distinct ids.
  bool wait_accepted(std::uint64_t n, seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (emulator_->stats().unique_ids >= n) {
        return true;
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
    return false;
  }

  std::vector<ConsumedMessage> letters() { return broker().consume_all(names_.dlq); }

  // The line of the summary table for `reason`, split into its columns.
  static std::vector<std::string> row(const std::string& output, const std::string& reason) {
    std::vector<std::string> cols;
    for (std::size_t at = 0; (at = output.find("\n" + reason + " ", at)) != std::string::npos;) {
      const std::size_t end = output.find('\n', at + 1);
      std::string line = output.substr(at + 1, end - at - 1);
      std::istringstream in(line);
      cols.clear();
      for (std::string c; in >> c;) {
        cols.push_back(c);
      }
      at = end;
    }
    return cols;  // the last such line: the summary comes last
  }

  // A letter as the bridge writes it, for an event read from `source`.
  static ProduceMessage letter(const std::string& event_id, std::uint64_t customer,
                               const std::string& reason, const std::string& source,
                               bool truncated = false) {
    ProduceMessage m{fmt::format("cust-{}", customer),
                     make_capillary_event(event_id, customer),
                     {{"traceparent", kTraceparent},
                      {"capillary-bridge.reason", reason},
                      {"capillary-bridge.message", "injected by the test"},
                      {"capillary-bridge.source", source},
                      {"capillary-bridge.version", "test"},
                      {"capillary-bridge.event", "transactionAdded"}}};
    if (truncated) {
      m.value.resize(m.value.size() / 2);
      m.headers.push_back({"capillary-bridge.truncated", "true"});
    }
    return m;
  }

  Names names_;
  std::unique_ptr<EmulatorProcess> emulator_;
};

// Events on a topic the routes do not cover are dead-lettered as unmapped; with the route added,
// a dry run says they would be sent (and sends, writes and commits nothing), then redrive delivers
// every one of them once, writes nothing back, and a second run finds nothing left.
TEST_F(RedriveTest, LettersOfAMappingGapAreDeliveredOnceTheMappingIsFixed) {
  const std::string other = unique_name("it.other");
  create_topics(names_.topic, 3, names_.dlq);
  broker().create_topic(other, 2);
  std::vector<ProduceMessage> routed, unrouted;
  for (int i = 0; i < 600; ++i) {
    routed.push_back({fmt::format("cust-{}", i % 50),
                      make_capillary_event(fmt::format("a-{}", i), customer(i, 50)),
                      {}});
  }
  for (int i = 0; i < 400; ++i) {
    unrouted.push_back({fmt::format("cust-{}", i % 50),
                        make_capillary_event(fmt::format("b-{}", i), customer(i, 50)),
                        {}});
  }
  broker().produce(names_.topic, routed);
  broker().produce(other, unrouted);

  // The bridge with the gap: `other` is consumed but has no route.
  BridgeProcess bridge(dir_, "bridge", config({names_.topic, other}, {names_.topic}));
  bridge.start();
  const auto deadline = Clock::now() + seconds(90);
  std::size_t dead = 0;
  while (Clock::now() < deadline &&
         ((dead = letters().size()) < 400 || emulator_->stats().unique_ids < 600)) {
    std::this_thread::sleep_for(milliseconds(500));
  }
  ASSERT_EQ(dead, 400U) << bridge.log_tail();
  ASSERT_TRUE(bridge.stop());
  ASSERT_EQ(emulator_->stats().unique_ids, 600U);
  for (const auto& l : letters()) {
    ASSERT_EQ(l.header("capillary-bridge.reason"), "unmapped");
  }
  const auto dlq_end = broker().high_watermarks(names_.dlq);
  const std::string group = names_.group + ".redrive";  // the default redrive group

  // The mapping fixed: routes on both topics.
  const BridgeConfig fixed = config({names_.topic, other}, {names_.topic, other});
  const auto requests_before = emulator_->stats().requests;
  const Run dry = redrive(fixed, {"--dry-run"}, "redrive-dry");
  ASSERT_EQ(dry.code, 0) << dry.output;
  EXPECT_NE(dry.output.find("dry run: redrive of '" + names_.dlq + "'"), std::string::npos)
      << dry.output;
  const auto dry_row = row(dry.output, "unmapped");
  ASSERT_EQ(dry_row.size(), 7U) << dry.output;
  EXPECT_EQ(dry_row[1], "400") << "letters";
  EXPECT_EQ(dry_row[2], "400") << "would send";
  EXPECT_EQ(dry_row[4], "0") << "would fail";
  EXPECT_EQ(emulator_->stats().requests, requests_before) << "a dry run sent something";
  EXPECT_EQ(broker().high_watermarks(names_.dlq), dlq_end) << "a dry run wrote a letter";
  for (const auto& [p, off] : broker().committed_offsets(group, names_.dlq)) {
    EXPECT_LT(off, 0) << "a dry run committed partition " << p;
  }

  const Run run = redrive(fixed, {}, "redrive");
  ASSERT_EQ(run.code, 0) << run.output;
  std::printf("--- redrive --dry-run\n%s\n--- redrive\n%s\n", dry.output.c_str(),
              run.output.c_str());
  const auto run_row = row(run.output, "unmapped");
  ASSERT_EQ(run_row.size(), 7U) << run.output;
  EXPECT_EQ(run_row[2], "400") << "delivered\n" << run.output;
  EXPECT_EQ(run_row[4], "0") << "failed again";
  DeliveryCounter counter;
  counter.add_all(emulator_->messages());
  EXPECT_EQ(counter.unique(), 1000U);
  for (int i = 0; i < 400; ++i) {
    ASSERT_TRUE(counter.seen(fmt::format("b-{}", i))) << "b-" << i << " was not redriven";
  }
  EXPECT_EQ(broker().high_watermarks(names_.dlq), dlq_end) << "a delivered letter came back";
  EXPECT_EQ(broker().committed_offsets(group, names_.dlq), dlq_end)
      << "the redrive group did not commit up to the end";

  const Run again = redrive(fixed, {}, "redrive-again");
  ASSERT_EQ(again.code, 0) << again.output;
  const auto total = row(again.output, "total");
  ASSERT_EQ(total.size(), 7U) << again.output;
  EXPECT_EQ(total[1], "0") << "a second run found letters the first had settled";
  EXPECT_EQ(emulator_->stats().messages_accepted, counter.lines()) << "the second run sent";
}

// Platform refuses messages (a per-message 400 inside the 207): those events are dead-lettered
// platform-rejected. Redriven while Platform still refuses, each fails again and goes back with
// attempts 2, its first source and the letter it came from; once Platform accepts, a second run
// of the same group picks up those new letters and delivers them. A letter of another reason is
// passed over and a reduced one is reported as not redrivable.
TEST_F(RedriveTest, PlatformRejectedLettersFailAgainWithAnAttemptCountThenAreRedelivered) {
  create_topics(names_.topic, 2, names_.dlq);
  std::vector<ProduceMessage> events;
  for (int i = 0; i < 300; ++i) {
    events.push_back({fmt::format("cust-{}", i % 30),
                      make_capillary_event(fmt::format("r-{}", i), customer(i, 30)),
                      {{"traceparent", kTraceparent}}});
  }
  broker().produce(names_.topic, events);
  emulator_->set_faults(R"({"message_fail_rate": {"400": 0.2}})");
  const BridgeConfig cfg = config({names_.topic}, {names_.topic});
  BridgeProcess bridge(dir_, "bridge", cfg);
  bridge.start();
  const auto deadline = Clock::now() + seconds(90);
  std::size_t dead = 0;
  while (Clock::now() < deadline &&
         (dead = letters().size()) + emulator_->stats().unique_ids < 300) {
    std::this_thread::sleep_for(milliseconds(500));
  }
  ASSERT_TRUE(bridge.stop());
  dead = letters().size();
  ASSERT_GT(dead, 20U) << bridge.log_tail();
  ASSERT_EQ(dead + emulator_->stats().unique_ids, 300U);
  // Two letters that cannot be (or are not to be) redriven.
  broker().produce(names_.dlq,
                   {letter("x-1", 1, "malformed-json", names_.topic + "/0/999"),
                    letter("x-2", 2, "platform-rejected", names_.topic + "/1/999", true)});
  const auto first_letters = letters();

  // Platform still refuses everything.
  emulator_->set_faults(R"({"message_fail_rate": {"400": 1.0}})");
  const Run refused = redrive(cfg, {"--reason", "platform-rejected"}, "redrive-refused");
  ASSERT_EQ(refused.code, 0) << refused.output;
  const auto r1 = row(refused.output, "platform-rejected");
  ASSERT_EQ(r1.size(), 7U) << refused.output;
  EXPECT_EQ(r1[1], std::to_string(dead + 1)) << "letters";
  EXPECT_EQ(r1[2], "0") << "delivered";
  EXPECT_EQ(r1[4], std::to_string(dead)) << "failed again";
  EXPECT_EQ(r1[6], "1") << "not redrivable";
  const auto m1 = row(refused.output, "malformed-json");
  ASSERT_EQ(m1.size(), 7U) << refused.output;
  EXPECT_EQ(m1[5], "1") << "passed over";
  EXPECT_NE(
      refused.output.find("failed again, by new reason: platform-rejected " + std::to_string(dead)),
      std::string::npos)
      << refused.output;

  const auto all = letters();
  ASSERT_EQ(all.size(), first_letters.size() + dead) << "one new letter per refused one";
  std::map<std::string, std::string> first_source;  // event id -> where it first came from
  for (std::size_t i = 0; i < first_letters.size(); ++i) {
    first_source[extract_event_id(first_letters[i].value)] =
        first_letters[i].header("capillary-bridge.source");
  }
  for (std::size_t i = first_letters.size(); i < all.size(); ++i) {
    const auto& l = all[i];
    const std::string id = extract_event_id(l.value);
    EXPECT_EQ(l.header("capillary-bridge.reason"), "platform-rejected") << id;
    EXPECT_EQ(l.header("capillary-bridge.attempts"), "2") << id;
    EXPECT_EQ(l.header("capillary-bridge.source"), first_source[id]) << id;
    EXPECT_EQ(l.header("capillary-bridge.redriven-from").rfind(names_.dlq + "/0/", 0), 0U) << id;
    EXPECT_EQ(l.header("traceparent"), kTraceparent) << "the event's own headers go along";
  }

  // Platform accepts again: the same group goes on from where it stopped.
  emulator_->clear_faults();
  const Run accepted = redrive(cfg, {"--reason", "platform-rejected"}, "redrive-accepted");
  ASSERT_EQ(accepted.code, 0) << accepted.output;
  const auto r2 = row(accepted.output, "platform-rejected");
  ASSERT_EQ(r2.size(), 7U) << accepted.output;
  EXPECT_EQ(r2[1], std::to_string(dead)) << "only the letters written by the first run";
  EXPECT_EQ(r2[2], std::to_string(dead)) << "delivered";
  EXPECT_EQ(emulator_->stats().unique_ids, 300U);
  EXPECT_EQ(letters().size(), all.size()) << "nothing came back";
}

// Letters written straight to the topic at two times: --until takes the first batch only and
// leaves the second unread (the group stops before it), --since with another group takes only
// the second, --limit stops after that many.
TEST_F(RedriveTest, SinceUntilAndLimitSelectLetters) {
  create_topics(names_.topic, 1, names_.dlq);
  std::vector<ProduceMessage> early, late;
  for (int i = 0; i < 20; ++i) {
    early.push_back(letter(fmt::format("e-{}", i), customer(i, 50), "unmapped",
                           names_.topic + "/0/" + std::to_string(i)));
    late.push_back(letter(fmt::format("l-{}", i), customer(i, 50), "unmapped",
                          names_.topic + "/0/" + std::to_string(100 + i)));
  }
  broker().produce(names_.dlq, early);
  std::this_thread::sleep_for(milliseconds(1500));
  const auto between = std::chrono::system_clock::now();
  std::this_thread::sleep_for(milliseconds(1500));
  broker().produce(names_.dlq, late);
  const std::string at = rfc3339(between);
  const BridgeConfig cfg = config({names_.topic}, {names_.topic});

  const Run until = redrive(cfg, {"--until", at}, "redrive-until");
  ASSERT_EQ(until.code, 0) << until.output;
  DeliveryCounter counter;
  counter.add_all(emulator_->messages());
  EXPECT_EQ(counter.unique(), 20U);
  EXPECT_TRUE(counter.seen("e-0") && counter.seen("e-19") && !counter.seen("l-0"));
  EXPECT_EQ(broker().committed_offsets(names_.group + ".redrive", names_.dlq).at(0), 20)
      << "the group must stop before the letters after --until";

  const Run limited =
      redrive(cfg, {"--since", at, "--limit", "5", "--group", "g-since"}, "redrive-limit");
  ASSERT_EQ(limited.code, 0) << limited.output;
  const auto r = row(limited.output, "unmapped");
  ASSERT_EQ(r.size(), 7U) << limited.output;
  EXPECT_EQ(r[2], "5") << "delivered";
  EXPECT_EQ(r[5], "20") << "passed over: the early ones";
  counter = DeliveryCounter();
  counter.add_all(emulator_->messages());
  EXPECT_EQ(counter.unique(), 25U);
  EXPECT_TRUE(counter.seen("l-4") && !counter.seen("l-5"));
}

// SIGKILL in the middle of a redrive (Platform slowed to 2,000 messages/s), then the same command
// again: every letter is delivered, none is written back, the group ends at the topic's end. What
// was sent but not yet committed at the kill is sent again with the same _id (counted below).
TEST_F(RedriveTest, SigkillOfRedriveLosesNoLetter) {
  constexpr int kLetters = 20000;
  create_topics(names_.topic, 1, names_.dlq);
  std::vector<ProduceMessage> batch;
  for (int i = 0; i < kLetters; ++i) {
    batch.push_back(letter(fmt::format("k-{}", i), customer(i, 500), "platform-unavailable",
                           names_.topic + "/0/" + std::to_string(i)));
  }
  broker().produce(names_.dlq, batch);
  const auto dlq_end = broker().high_watermarks(names_.dlq);
  BridgeConfig cfg = config({names_.topic}, {names_.topic},
                            [](PlatformSinkSettings& s) { s.messages_per_second = 2000; });
  cfg.command = {"redrive"};
  BridgeProcess process(dir_, "redrive", cfg);
  process.start();
  ASSERT_TRUE(wait_accepted(kLetters * 2 / 5, seconds(60))) << process.log_tail();
  const std::string exposition = http_get("127.0.0.1", process.metrics_port(), "/metrics").body;
  process.kill(SIGKILL);
  ASSERT_TRUE(process.wait(seconds(10)));
  const auto at_kill = emulator_->stats();
  EXPECT_GT(metric_sum(exposition, "capillary_bridge_redrive_letters_total",
                       {{"reason", "platform-unavailable"}, {"outcome", "delivered"}})
                .value_or(0),
            0.0)
      << "no redrive metrics while it ran:\n"
      << exposition.substr(0, 2000);
  EXPECT_LT(at_kill.unique_ids, static_cast<std::uint64_t>(kLetters)) << "killed too late";

  process.start();
  const auto status = process.wait(seconds(120));
  ASSERT_TRUE(status && status->exited && status->code == 0) << process.log_tail();
  const auto stats = emulator_->stats();
  EXPECT_EQ(stats.unique_ids, static_cast<std::uint64_t>(kLetters)) << "a letter was lost";
  DeliveryCounter counter;
  counter.add_all(emulator_->messages());
  EXPECT_EQ(counter.unique(), static_cast<std::size_t>(kLetters));
  EXPECT_EQ(broker().high_watermarks(names_.dlq), dlq_end) << "a letter was written back";
  EXPECT_EQ(broker().committed_offsets(names_.group + ".redrive", names_.dlq), dlq_end);
  // Re-sends after the kill: at most what was sent since the last commit (200 ms at 2,000/s)
  // plus what the pipeline and sink held then.
  std::printf("redrive SIGKILL: %llu accepted at the kill, %zu re-sent after it (same _id)\n",
              static_cast<unsigned long long>(at_kill.unique_ids), counter.duplicates());
  EXPECT_LE(counter.duplicates(), 2500U);
}

}  // namespace
}  // namespace bridge::harness

// The pipeline against fakes: at-least-once offset bookkeeping, dead letters, retries in order,
// backpressure, rebalances and shutdown. Every test runs twice: with transforms on the pipeline
// thread (workers 0: one thread, deterministic) and on two transform workers (workers 2).

#include "bridge/pipeline/pipeline.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <thread>

#include "bridge/core/fatal.h"
#include "tests/fakes/fakes.h"
#include "transforms/api/registry.h"
#include "transforms/builtin/builtin.h"

namespace bridge::pipeline {
namespace {

using bridge::testing::FakeDeadLetters;
using bridge::testing::FakeSink;
using bridge::testing::FakeSource;
using source::TopicPartition;

constexpr const char* kTopic = "events";
// tests/golden/capillary/phones: org 50001 (no calling code configured), mobile 9820054321.
constexpr const char* kNationalPhoneEvent =
    "{\"eventName\":\"customerAdded\",\"eventId\":\"f5394cd3-381f-5637-8d5d-429a478ef933\","
    "\"orgId\":50001,\"refId\":\"50001_phone07\",\"apiRequestId\":"
    "\"0c46f04ca6078d7d401127124ab6590c\",\"createdAt\":1740823200000,\"data\":{\"loyaltyType\":"
    "\"LOYALTY\",\"source\":\"INSTORE\",\"accountId\":\"\",\"firstName\":\"Asha\",\"lastName\":"
    "\"Rao\",\"enteredAt\":1740823199000,\"enteredBy\":{\"id\":75000012,\"till\":{\"code\":\"store."
    "sfo.01.till1\",\"name\":\"SFO Till "
    "1\"},\"store\":{\"code\":\"store.sfo.01\",\"name\":\"Market Street "
    "Flagship\",\"externalId\":\"SFO01\",\"externalId1\":\"\",\"externalId2\":\"\"}},"
    "\"customerIdentifiers\":{\"customerId\":520000107,\"instore\":{\"mobile\":\"9820054321\","
    "\"email\":\"phone.case07@example.com\",\"externalId\":\"M-0000101\",\"cardNumbers\":["
    "\"9000500010001011\"]}},\"customFields\":[{\"key\":\"preferred_store\",\"value\":\"store.sfo."
    "01\"}],\"extendedFields\":[{\"key\":\"gender\",\"value\":\"Female\"},{\"key\":\"dob\","
    "\"value\":\"1990-04-12\"}]},\"loyaltyEventId\":null}";

std::string event(int i, const char* name = "pointsIssued") {
  return "{\"eventName\":\"" + std::string(name) + "\",\"eventId\":\"id-" + std::to_string(i) +
         "\",\"orgId\":1,\"createdAt\":1700000000000,\"data\":{\"n\":" + std::to_string(i) + "}}";
}

class PipelineTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    target_.name = "default";
    transforms::register_builtin_transforms(registry_);
  }

  std::shared_ptr<const transforms::RouterPlan> plan(std::vector<std::string> events = {}) {
    auto targets = std::make_shared<const std::vector<transforms::Target>>(
        std::vector<transforms::Target>{target_});
    core::Diagnostics diags("test");
    std::vector<transforms::RouteSpec> specs;
    specs.push_back({{kTopic},
                     std::move(events),
                     "passthrough",
                     YAML::Load("{target: default}"),
                     YAML::Mark()});
    auto built = transforms::RouterPlan::build(specs, registry_, std::move(targets), diags);
    EXPECT_TRUE(diags.ok()) << diags.to_string();
    return std::make_shared<const transforms::RouterPlan>(std::move(*built));
  }

  // Runs the pipeline until `done` holds (checked on every poll, never again once it held), then
  // stops it; fails when `done` never held within `timeout`. A deadline, not a poll count: a busy
  // pipeline polls without waiting, thousands of times while a 4 ms backoff runs.
  void run_until(Pipeline& p, const std::function<bool()>& done,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    bool held = false;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    source_.on_poll = [&](int polls) {
      if (!held && done()) {
        held = true;
        p.request_stop();
      } else if (std::chrono::steady_clock::now() > deadline) {
        p.request_stop();
      }
      if (step_) {
        step_(polls);
      }
    };
    ASSERT_TRUE(p.run());
    ASSERT_TRUE(held) << "the condition never held within " << timeout.count() << " ms";
  }

  Pipeline make(config::PipelineConfig cfg = {}, std::vector<std::string> events = {}) {
    cfg.retry_backoff_initial = std::chrono::milliseconds(1);
    cfg.retry_backoff_max = std::chrono::milliseconds(4);
    cfg.drain_timeout = std::chrono::milliseconds(2000);
    cfg.workers = GetParam();
    return Pipeline({source_, sink_, dead_letters_, metrics_, plan(std::move(events))}, cfg);
  }

  transforms::Target target_;
  transforms::Registry registry_;
  metrics::Metrics metrics_;
  FakeSource source_;
  FakeSink sink_;
  FakeDeadLetters dead_letters_;
  std::function<void(int)> step_;
};

TEST_P(PipelineTest, DeliversEverythingAndStoresTheEndOfEachPartition) {
  for (int i = 0; i < 300; ++i) {
    source_.add(kTopic, i % 3, event(i));
  }
  source_.assign({{kTopic, 0}, {kTopic, 1}, {kTopic, 2}});
  auto p = make();
  run_until(p, [&] { return sink_.delivered.size() == 300; });
  EXPECT_EQ(p.stats().delivered, 300U);
  for (int part = 0; part < 3; ++part) {
    EXPECT_EQ((source_.committed[{kTopic, part}]), 100) << "partition " << part;
  }
  EXPECT_GE(source_.sync_commits, 1);
  EXPECT_EQ(source_.closes, 1);
  EXPECT_EQ(p.stats().inflight_records, 0);
  EXPECT_EQ(p.stats().inflight_bytes, 0);
  // passthrough: the original bytes go out
  EXPECT_EQ(sink_.delivered.front().body.substr(0, 14), "{\"eventName\":\"");
}

TEST_P(PipelineTest, SinkRejectGoesToDeadLetterAndNoLaterOffsetSkipsIt) {
  for (int i = 0; i < 20; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  source_.assign({{kTopic, 0}});
  sink_.policy = [](const testing::SentMessage& m, int) {
    return m.offset == 7 ? sink::Verdict::rejected : sink::Verdict::delivered;
  };
  dead_letters_.hold = true;  // the dead letter is slow: nothing past 7 may be stored meanwhile
  auto p = make();
  step_ = [&](int polls) {
    if (polls == 200) {
      EXPECT_TRUE(!source_.store_history.empty() && source_.store_history.back().second == 7)
          << "the delivered prefix 0..6 was not stored while the dead letter was pending";
      for (const auto& [tp, off] : source_.store_history) {
        EXPECT_LE(off, 7) << "stored past the record still being dead-lettered";
      }
      dead_letters_.hold = false;
    }
  };
  run_until(p, [&] { return p.stats().delivered + p.stats().dead_lettered == 20; });
  ASSERT_EQ(dead_letters_.written.size(), 1U);
  EXPECT_EQ(dead_letters_.written[0].offset, 7);
  EXPECT_EQ(dead_letters_.written[0].reason, "sink-rejected");
  EXPECT_EQ(dead_letters_.written[0].message, "fake sink said no");
  EXPECT_EQ(dead_letters_.written[0].payload, event(7)) << "the original bytes";
  EXPECT_EQ((source_.committed[{kTopic, 0}]), 20);
}

TEST_P(PipelineTest, BadInputIsDeadLetteredWithItsReason) {
  source_.add(kTopic, 0, "not json");
  source_.add(kTopic, 0, "{\"eventName\":\"pointsIssued\",\"data\":{");
  source_.add(kTopic, 0, event(1, "unknownEvent"));
  source_.add(kTopic, 0, "{\"hello\":1}");
  source_.add(kTopic, 0, std::string(3000, ' ') + event(2));
  source_.add(kTopic, 0, event(3));
  source_.assign({{kTopic, 0}});
  config::PipelineConfig cfg;
  cfg.max_event_bytes = 2000;
  auto p = make(cfg, {"pointsIssued"});
  run_until(p, [&] { return p.stats().dead_lettered + p.stats().delivered == 6; });
  ASSERT_EQ(dead_letters_.written.size(), 5U);
  // In offset order (with workers, a too-large record is dead-lettered before the records ahead
  // of it come back from their transform: letters carry no order promise).
  std::stable_sort(dead_letters_.written.begin(), dead_letters_.written.end(),
                   [](const auto& a, const auto& b) { return a.offset < b.offset; });
  EXPECT_EQ(dead_letters_.written[0].reason, "malformed-json");
  EXPECT_EQ(dead_letters_.written[1].reason, "malformed-json");
  EXPECT_EQ(dead_letters_.written[2].reason, "unmapped");
  EXPECT_EQ(dead_letters_.written[3].reason, "envelope");
  EXPECT_EQ(dead_letters_.written[4].reason, "too-large");
  ASSERT_EQ(sink_.delivered.size(), 1U);
  EXPECT_EQ(sink_.delivered[0].offset, 5);
  EXPECT_EQ((source_.committed[{kTopic, 0}]), 6);
}

// Transform warnings are counted per transform, event name and warning: a national mobile number
// of an org without a calling code is left out as phone-not-e164 (never logged).
TEST_P(PipelineTest, TransformWarningsAreCountedPerEventName) {
  auto targets = std::make_shared<const std::vector<transforms::Target>>(
      std::vector<transforms::Target>{target_});
  core::Diagnostics diags("test");
  std::vector<transforms::RouteSpec> specs;
  specs.push_back({{kTopic},
                   {},
                   "capillary",
                   YAML::Load("{tenant: acme, targets: {profile: default, experience_event: "
                              "default}}"),
                   YAML::Mark()});
  auto built = transforms::RouterPlan::build(specs, registry_, std::move(targets), diags);
  ASSERT_TRUE(built) << diags.to_string();
  source_.add(kTopic, 0, kNationalPhoneEvent);
  source_.assign({{kTopic, 0}});
  config::PipelineConfig cfg;
  cfg.workers = GetParam();
  Pipeline p({source_, sink_, dead_letters_, metrics_,
              std::make_shared<const transforms::RouterPlan>(std::move(*built))},
             cfg);
  run_until(p, [&] { return p.stats().delivered == 1; });
  const std::string exposition =
      prometheus::TextSerializer().Serialize(metrics_.registry()->Collect());
  EXPECT_NE(exposition.find("capillary_bridge_transform_warnings_total{event=\"customerAdded\","
                            "transform=\"capillary\",warning=\"phone-not-e164\"} 1"),
            std::string::npos)
      << exposition;
  for (const auto& m : sink_.delivered) {
    EXPECT_EQ(m.body.find("9820054321"), std::string::npos) << "the national number went out";
  }
}

TEST_P(PipelineTest, RetryKeepsPartitionOrder) {
  for (int i = 0; i < 50; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  source_.assign({{kTopic, 0}});
  // Offset 10 fails twice; the sink then (per contract) fails everything after it that it held.
  bool failing = false;
  sink_.policy = [&](const testing::SentMessage& m, int attempt) {
    if (m.offset == 10 && attempt <= 2) {
      failing = true;
      return sink::Verdict::retry;
    }
    if (m.offset == 10) {
      failing = false;
    }
    return failing && m.offset > 10 ? sink::Verdict::retry : sink::Verdict::delivered;
  };
  auto p = make();
  run_until(p, [&] { return p.stats().delivered == 50; });
  ASSERT_EQ(sink_.delivered.size(), 50U);
  for (std::size_t i = 0; i < sink_.delivered.size(); ++i) {
    EXPECT_EQ(sink_.delivered[i].offset, static_cast<std::int64_t>(i)) << "overtaken at " << i;
  }
  EXPECT_GE(p.stats().retries, 2U);
  EXPECT_GE(source_.pause_calls, 1) << "a retrying partition is paused";
  EXPECT_TRUE(source_.paused.empty()) << "and resumed afterwards";
  EXPECT_EQ((source_.committed[{kTopic, 0}]), 50);
}

TEST_P(PipelineTest, InflightCapPausesAndResumes) {
  // More records than one poll hands out (kPollBatch in pipeline.cc), so a pipeline that kept
  // polling past the cap would hold all of them.
  constexpr int kRecords = 5000;
  constexpr std::int64_t kPollBatch = 2000;
  for (int i = 0; i < kRecords; ++i) {
    source_.add(kTopic, i % 2, event(i));
  }
  source_.assign({{kTopic, 0}, {kTopic, 1}});
  sink_.hold = true;
  config::PipelineConfig cfg;
  cfg.max_inflight_records = 10;
  auto p = make(cfg);
  bool saw_paused = false;
  step_ = [&](int polls) {
    if (polls == 100) {
      saw_paused = source_.paused.size() == 2;
      EXPECT_LE(p.stats().inflight_records, cfg.max_inflight_records + kPollBatch)
          << "the cap lets at most one poll batch past it";
      EXPECT_LT(source_.handed_out, static_cast<std::uint64_t>(kRecords))
          << "consumption went on past the cap";
      sink_.hold = false;
    }
  };
  run_until(p, [&] { return p.stats().delivered == static_cast<std::uint64_t>(kRecords); });
  EXPECT_TRUE(saw_paused);
  EXPECT_TRUE(source_.paused.empty());
  EXPECT_EQ((source_.committed[{kTopic, 0}]), kRecords / 2);
  EXPECT_EQ((source_.committed[{kTopic, 1}]), kRecords / 2);
}

TEST_P(PipelineTest, RevokeStoresTheSettledPrefixAndDropsUndeliveredWork) {
  for (int i = 0; i < 10; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  source_.assign({{kTopic, 0}});
  // Offsets 0..3 are delivered; 4..9 stay in the sink when the partition is revoked.
  sink_.withhold = [](const testing::SentMessage& m) { return m.offset >= 4; };
  auto p = make();
  bool revoked = false;
  run_until(p, [&] {
    if (!revoked && sink_.delivered.size() == 4) {
      source_.revoke({{kTopic, 0}});
      revoked = true;
      return false;
    }
    return revoked && source_.assigned.empty();
  });
  EXPECT_EQ((source_.committed[{kTopic, 0}]), 4) << "exactly the settled prefix";
  EXPECT_EQ(p.stats().inflight_records, 0) << "undelivered work of the partition is dropped";
  EXPECT_EQ(p.stats().inflight_bytes, 0);
  EXPECT_FALSE(p.ready()) << "nothing assigned";
}

TEST_P(PipelineTest, PartitionPausedForARetryIsResumedWhenRevokedSoItCanComeBack) {
  for (int i = 0; i < 20; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  source_.assign({{kTopic, 0}});
  bool sink_up = false;
  sink_.policy = [&](const testing::SentMessage& m, int /*attempt*/) {
    return sink_up || m.offset < 5 ? sink::Verdict::delivered : sink::Verdict::retry;
  };
  int phase = 0;  // 0: wait for the pause, 1: revoked, 2: reassigned
  step_ = [&](int /*polls*/) {
    if (phase == 0 && !source_.paused.empty()) {
      source_.revoke({{kTopic, 0}});
      phase = 1;
    } else if (phase == 1 && source_.assigned.empty()) {
      sink_up = true;
      source_.assign({{kTopic, 0}});
      phase = 2;
    }
  };
  auto p = make();
  run_until(p, [&] { return phase == 2 && p.stats().delivered >= 20; });
  EXPECT_TRUE(source_.paused.empty()) << "the partition came back paused and would never fetch";
  EXPECT_EQ((source_.committed[{kTopic, 0}]), 20);
}

TEST_P(PipelineTest, ReassignedPartitionResumesFromTheCommittedOffset) {
  for (int i = 0; i < 10; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  source_.committed[{kTopic, 0}] = 6;  // a previous owner got this far
  source_.assign({{kTopic, 0}});
  auto p = make();
  run_until(p, [&] { return p.stats().delivered == 4; });
  ASSERT_EQ(sink_.delivered.size(), 4U);
  EXPECT_EQ(sink_.delivered.front().offset, 6);
  EXPECT_EQ((source_.committed[{kTopic, 0}]), 10);
}

TEST_P(PipelineTest, FailedDeadLetterWritesAreRetriedAndBlockTheOffset) {
  source_.add(kTopic, 0, "garbage");
  source_.add(kTopic, 0, event(1));
  source_.assign({{kTopic, 0}});
  dead_letters_.fail_next = 3;
  auto p = make();
  run_until(p, [&] { return p.stats().dead_lettered == 1 && p.stats().delivered == 1; });
  EXPECT_EQ(dead_letters_.failures, 3);
  ASSERT_EQ(dead_letters_.written.size(), 1U);
  EXPECT_EQ(dead_letters_.written[0].offset, 0);
  for (const auto& [tp, off] : source_.store_history) {
    EXPECT_EQ(off, 2) << "nothing stored until the dead letter was written";
  }
  EXPECT_EQ((source_.committed[{kTopic, 0}]), 2);
}

TEST_P(PipelineTest, ShutdownDrainsThenCommitsAndCloses) {
  for (int i = 0; i < 30; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  source_.assign({{kTopic, 0}});
  sink_.hold = true;
  auto p = make();
  step_ = [&](int polls) {
    if (polls == 5) {
      p.request_stop();  // with 30 records held in the sink
      sink_.hold = false;
      sink_.hold_polls = 3;  // verdicts come only while draining
    }
  };
  source_.on_poll = [&](int polls) { step_(polls); };
  ASSERT_TRUE(p.run());
  EXPECT_EQ(p.stats().delivered, 30U) << "in-flight work drained before exit";
  EXPECT_EQ((source_.committed[{kTopic, 0}]), 30);
  EXPECT_EQ(source_.closes, 1);
}

TEST_P(PipelineTest, DrainDeadlineBoundsShutdownWithAStuckSink) {
  for (int i = 0; i < 5; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  source_.assign({{kTopic, 0}});
  sink_.hold = true;  // never answers
  config::PipelineConfig cfg;
  auto p = make(cfg);
  source_.on_poll = [&](int polls) {
    if (polls == 5) {
      p.request_stop();
    }
  };
  const auto start = std::chrono::steady_clock::now();
  const auto result = p.run();
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(result) << "a drain that leaves records undelivered is not a clean stop";
  EXPECT_EQ(result.error().code, "drain-deadline");
  EXPECT_NE(result.error().message.find("5 record(s) not delivered"), std::string::npos)
      << result.error().message;
  EXPECT_GE(took, std::chrono::milliseconds(2000)) << "gave up before the drain deadline";
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_EQ(p.stats().delivered, 0U);
  EXPECT_TRUE(source_.committed.empty() || (source_.committed[{kTopic, 0}] == 0))
      << "nothing undelivered is committed";
  EXPECT_EQ(source_.closes, 1);
}

// A transform whose answer the test scripts by event name: "flakyEvent" asks to be retried its
// first three times, "fatalEvent" fails fatally, anything else passes through. Every output's
// ordering key is "customer-" + the event id's last digit.
class ScriptedFactory final : public transforms::TransformFactory {
 public:
  explicit ScriptedFactory(std::map<std::string, int>& attempts) : attempts_(attempts) {}
  std::string_view name() const override { return "scripted"; }
  transforms::TransformCreator create(const transforms::FactoryContext& ctx) const override {
    const transforms::Target* target = ctx.targets("default");
    auto* attempts = &attempts_;
    return [target, attempts] { return std::make_unique<Scripted>(target, attempts); };
  }

 private:
  class Scripted final : public transforms::Transform {
   public:
    Scripted(const transforms::Target* target, std::map<std::string, int>* attempts)
        : target_(target), attempts_(attempts) {}
    core::Result<void> apply(const transforms::Input& in, transforms::Emitter& out) override {
      const std::string id(in.envelope.event_id);
      if (in.envelope.event_name == "fatalEvent") {
        return core::fail(core::ErrorKind::fatal, "test-fatal", "the test said so");
      }
      if (in.envelope.event_name == "flakyEvent" && (*attempts_)[id]++ < 3) {
        return core::fail(core::ErrorKind::retry, "test-retry", "not yet");
      }
      out.order_key("customer-" + id.substr(id.size() - 1));
      out.emit_unchanged(transforms::OutputKind::raw, *target_);
      return {};
    }

   private:
    const transforms::Target* target_;
    std::map<std::string, int>* attempts_;
  };
  std::map<std::string, int>& attempts_;
};

class PipelineFaultTest : public PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    registry_.add(std::make_unique<ScriptedFactory>(attempts_));
  }
  Pipeline make_scripted() {
    auto targets = std::make_shared<const std::vector<transforms::Target>>(
        std::vector<transforms::Target>{target_});
    core::Diagnostics diags("test");
    std::vector<transforms::RouteSpec> specs;
    specs.push_back({{kTopic}, {}, "scripted", YAML::Node(), YAML::Mark()});
    auto built = transforms::RouterPlan::build(specs, registry_, std::move(targets), diags);
    EXPECT_TRUE(diags.ok()) << diags.to_string();
    config::PipelineConfig cfg;
    cfg.retry_backoff_initial = std::chrono::milliseconds(1);
    cfg.retry_backoff_max = std::chrono::milliseconds(4);
    cfg.drain_timeout = std::chrono::milliseconds(2000);
    cfg.workers = GetParam();
    return Pipeline({source_, sink_, dead_letters_, metrics_,
                     std::make_shared<const transforms::RouterPlan>(std::move(*built))},
                    cfg);
  }
  std::map<std::string, int> attempts_;
};

TEST_P(PipelineFaultTest, TransformRetryHoldsThePartitionAndTransformsAgainInOrder) {
  for (int i = 0; i < 10; ++i) {
    source_.add(kTopic, 0, event(i, i == 3 ? "flakyEvent" : "pointsIssued"));
  }
  source_.assign({{kTopic, 0}});
  auto p = make_scripted();
  step_ = [&](int) {
    if (attempts_["id-3"] < 4) {
      for (const auto& m : sink_.sent) {
        EXPECT_LT(m.offset, 3) << "a record behind the one being retried was sent";
      }
    }
  };
  run_until(p, [&] { return p.stats().delivered == 10; });
  EXPECT_EQ(attempts_["id-3"], 4) << "three retries, then success";
  EXPECT_EQ(p.stats().transform_retries, 3U);
  EXPECT_TRUE(dead_letters_.written.empty()) << "a retry is never a dead letter";
  ASSERT_EQ(sink_.delivered.size(), 10U);
  for (std::size_t i = 0; i < sink_.delivered.size(); ++i) {
    EXPECT_EQ(sink_.delivered[i].offset, static_cast<std::int64_t>(i));
  }
  EXPECT_EQ((source_.committed[{kTopic, 0}]), 10);
}

TEST_P(PipelineFaultTest, FatalTransformErrorStopsWithoutStoringPastTheRecord) {
  for (int i = 0; i < 10; ++i) {
    source_.add(kTopic, 0, event(i, i == 5 ? "fatalEvent" : "pointsIssued"));
  }
  source_.assign({{kTopic, 0}});
  auto p = make_scripted();
  source_.on_poll = [&](int polls) {
    if (polls > 2000) {
      p.request_stop();  // only if the fatal error did not stop it
    }
  };
  const auto result = p.run();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, core::ErrorKind::fatal);
  EXPECT_NE(result.error().message.find("events/0 offset 5"), std::string::npos)
      << result.error().message;
  EXPECT_LT(source_.polls, 2000) << "stopped by the error, not by the test";
  EXPECT_TRUE(dead_letters_.written.empty()) << "a fatal error is not the record's fault";
  for (const auto& [tp, off] : source_.store_history) {
    EXPECT_LE(off, 5) << "stored past the record that failed";
  }
  for (const auto& m : sink_.sent) {
    EXPECT_LT(m.offset, 5) << "sent past the record that failed";
  }
  EXPECT_EQ(source_.closes, 1);
}

TEST_P(PipelineFaultTest, OrderingKeyIsTheTransformsCustomerElseTheRecordKey) {
  source_.add(kTopic, 0, event(7));
  source_.assign({{kTopic, 0}});
  auto p = make_scripted();
  run_until(p, [&] { return p.stats().delivered == 1; });
  ASSERT_EQ(sink_.sent.size(), 1U);
  EXPECT_EQ(sink_.sent[0].order_key, "customer-7");
}

TEST_P(PipelineTest, PermanentDeadLetterFailureIsAnsweredWithAReducedLetter) {
  source_.add(kTopic, 0, "garbage");
  source_.add(kTopic, 0, event(1));
  source_.assign({{kTopic, 0}});
  dead_letters_.refuse_full = true;
  auto p = make();
  run_until(p, [&] { return p.stats().dead_lettered == 1 && p.stats().delivered == 1; });
  ASSERT_EQ(dead_letters_.written.size(), 1U);
  EXPECT_TRUE(dead_letters_.written[0].reduced);
  EXPECT_EQ(dead_letters_.failures, 1) << "one refusal, then the reduced letter; no retry loop";
  EXPECT_EQ(p.stats().reduced_dead_letters, 1U);
  EXPECT_EQ((source_.committed[{kTopic, 0}]), 2);
}

TEST_P(PipelineTest, ReducedLetterRefusedForGoodStopsNamingTopicPartitionAndOffset) {
  source_.add(kTopic, 0, event(0));
  source_.add(kTopic, 0, "garbage");
  source_.add(kTopic, 0, event(2));
  source_.assign({{kTopic, 0}});
  dead_letters_.refuse_full = true;
  dead_letters_.refuse_reduced = true;
  auto p = make();
  source_.on_poll = [&](int polls) {
    if (polls > 2000) {
      p.request_stop();
    }
  };
  const auto result = p.run();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "dead-letter-refused");
  EXPECT_NE(result.error().message.find("'fake.dlq'"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("events/0 offset 1"), std::string::npos)
      << result.error().message;
  EXPECT_EQ(dead_letters_.failures, 2) << "the full letter once, the reduced letter once";
  for (const auto& [tp, off] : source_.store_history) {
    EXPECT_LE(off, 1) << "stored past the record whose letter was refused";
  }
}

TEST_P(PipelineTest, TransientDeadLetterFailuresMakeTheInstanceNotReady) {
  source_.add(kTopic, 0, "garbage");
  source_.assign({{kTopic, 0}});
  dead_letters_.fail_next = 1000000;
  auto p = make();
  bool seen_unready = false;
  bool ready_again = false;
  run_until(p, [&] {
    seen_unready = seen_unready || (dead_letters_.failures > 0 && !p.ready());
    if (seen_unready && dead_letters_.fail_next > 0) {
      dead_letters_.fail_next = 0;  // the topic comes back
    }
    ready_again = p.stats().dead_lettered == 1 && p.ready();
    return ready_again;
  });
  EXPECT_TRUE(seen_unready) << "/readyz must fail while a dead letter cannot be written";
  EXPECT_TRUE(ready_again) << "dead-lettered " << p.stats().dead_lettered << ", polls "
                           << source_.polls << ", failures " << dead_letters_.failures
                           << ", assigned " << p.stats().assigned_partitions << ", written "
                           << dead_letters_.written.size() << ", seen " << seen_unready;
}

TEST_P(PipelineTest, RevokeReleasesTheSinkAndCommitsWhatFinishedMeanwhile) {
  for (int i = 0; i < 10; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  source_.assign({{kTopic, 0}});
  sink_.hold = true;  // every request in flight when the revoke comes
  sink_.finish_on_release = true;
  auto p = make();
  bool revoked = false;
  run_until(p, [&] {
    if (!revoked && sink_.sent.size() == 10) {
      source_.revoke({{kTopic, 0}});
      revoked = true;
      return false;
    }
    return revoked && source_.assigned.empty();
  });
  ASSERT_EQ(sink_.released.size(), 1U);
  EXPECT_EQ(sink_.released[0].second, 0);
  EXPECT_EQ((source_.committed[{kTopic, 0}]), 10)
      << "verdicts that arrived while the sink finished its requests are committed";
}

TEST_P(PipelineTest, NoPartitionTakesMoreThanItsShareOfTheCap) {
  // The fake hands out partition 0's records before partition 1's, like a librdkafka fetch run:
  // without a per-partition share, partition 0 fills the whole cap and partition 1 waits.
  constexpr int kBusy = 10000;
  constexpr int kQuiet = 100;
  for (int i = 0; i < kBusy; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  for (int i = 0; i < kQuiet; ++i) {
    source_.add(kTopic, 1, event(kBusy + i));
  }
  source_.assign({{kTopic, 0}, {kTopic, 1}});
  sink_.hold = true;
  config::PipelineConfig cfg;
  // A record holds ~110 bytes (passthrough: no output body of its own): two poll batches of
  // partition 0 (4,000 records, ~430 KB) are over its share and over half the cap, four are over
  // all of it.
  cfg.max_inflight_bytes = 800 * 1024;
  auto p = make(cfg);
  auto sent_of = [&](std::int32_t partition) {
    return std::count_if(sink_.sent.begin(), sink_.sent.end(),
                         [&](const auto& m) { return m.partition == partition; });
  };
  bool quiet_all_sent_while_held = false;
  run_until(p, [&] {
    if (sink_.hold && sent_of(1) == kQuiet) {
      quiet_all_sent_while_held = true;
      EXPECT_TRUE(source_.paused.contains({kTopic, 0})) << "partition 0 is over its share";
      EXPECT_LT(p.stats().inflight_bytes, cfg.max_inflight_bytes) << "under the cap as a whole";
      sink_.hold = false;
    }
    return p.stats().delivered == static_cast<std::uint64_t>(kBusy + kQuiet);
  });
  EXPECT_TRUE(quiet_all_sent_while_held)
      << "partition 1 reached the sink only after partition 0 let go of the cap";
  EXPECT_TRUE(source_.paused.empty());
  EXPECT_EQ((source_.committed[{kTopic, 0}]), kBusy);
  EXPECT_EQ((source_.committed[{kTopic, 1}]), kQuiet);
}

TEST_P(PipelineTest, NothingPausesForItsShareWhileUnderHalfTheCap) {
  // A pause drops the partition's read-ahead in librdkafka: shares apply only under contention.
  constexpr int kBusy = 4000;
  for (int i = 0; i < kBusy; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  for (std::int32_t part = 1; part < 4; ++part) {
    source_.add(kTopic, part, event(kBusy + part));
  }
  source_.assign({{kTopic, 0}, {kTopic, 1}, {kTopic, 2}, {kTopic, 3}});
  sink_.hold = true;
  config::PipelineConfig cfg;
  // A record holds ~110 bytes (passthrough: no output body of its own), so partition 0 alone
  // holds ~430 KB: over its share (384 KiB), under half the cap (768 KiB).
  cfg.max_inflight_bytes = 1536 * 1024;
  auto p = make(cfg);
  bool checked = false;
  run_until(p, [&] {
    if (sink_.hold && sink_.sent.size() == kBusy + 3) {
      checked = true;
      const auto held = p.stats().inflight_bytes;
      EXPECT_GT(held, cfg.max_inflight_bytes / 4) << "premise: partition 0 is over its share";
      EXPECT_LT(held, cfg.max_inflight_bytes / 2) << "premise: the bridge is under half the cap";
      EXPECT_EQ(source_.pause_calls, 0) << "paused for its share while under half the cap";
      sink_.hold = false;
    }
    return p.stats().delivered == kBusy + 3;
  });
  EXPECT_TRUE(checked);
}

TEST_P(PipelineTest, SinkHeldBytesCountAgainstTheInflightCap) {
  for (int i = 0; i < 10; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  source_.assign({{kTopic, 0}});
  config::PipelineConfig cfg;
  cfg.max_inflight_bytes = 1 << 20;
  sink_.held = 2 << 20;  // the sink alone holds more than the cap
  auto p = make(cfg);
  bool paused = false;
  run_until(p, [&] {
    paused = paused || !source_.paused.empty();
    if (paused) {
      sink_.held = 0;
    }
    return paused && p.stats().delivered == 10;
  });
  EXPECT_TRUE(paused);
}

// An exception escaping another thread (the sink's worker, the token thread) is reported, not
// std::terminate: the pipeline stops with it, storing nothing past what was settled.
TEST_P(PipelineTest, ExceptionOnAnotherThreadStopsThePipelineWithTheError) {
  for (int i = 0; i < 10; ++i) {
    source_.add(kTopic, 0, event(i));
  }
  source_.assign({{kTopic, 0}});
  auto p = make();
  std::thread worker;
  source_.on_poll = [&](int polls) {
    if (polls == 3) {
      worker = std::thread(
          [] { core::run_guarded("test-worker", [] { throw std::runtime_error("boom"); }); });
    }
    if (polls > 100000) {
      p.request_stop();  // only if the failure did not stop it
    }
  };
  const auto result = p.run();
  worker.join();
  core::reset_fatal_for_tests();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "thread-failure");
  EXPECT_NE(result.error().message.find("test-worker: unexpected exception: boom"),
            std::string::npos)
      << result.error().message;
  EXPECT_LE(source_.polls, 100000);
}

std::string workers_name(const ::testing::TestParamInfo<int>& param) {
  return "workers" + std::to_string(param.param);
}
INSTANTIATE_TEST_SUITE_P(Workers, PipelineTest, ::testing::Values(0, 2), workers_name);
INSTANTIATE_TEST_SUITE_P(Workers, PipelineFaultTest, ::testing::Values(0, 2), workers_name);

}  // namespace
}  // namespace bridge::pipeline

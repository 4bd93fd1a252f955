// Redrive's parts without a broker: times, letter headers, the selection, the dead-letter topic
// as a source (original records back, pass-over marks, where a run ends), and the pipeline
// routing a redriven letter by the topic it first came from and tallying each outcome.

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <memory>
#include <sstream>

#include "bridge/deadletter/writer.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/redrive/letter_source.h"
#include "bridge/redrive/selection.h"
#include "bridge/redrive/tally.h"
#include "tests/fakes/fakes.h"
#include "transforms/api/registry.h"
#include "transforms/builtin/builtin.h"

namespace bridge::redrive {
namespace {

using std::chrono::system_clock;

constexpr std::int64_t kDay = 86'400'000;

system_clock::time_point at_ms(std::int64_t ms) {
  return system_clock::time_point(std::chrono::milliseconds(ms));
}

TEST(ParseTime, AcceptsRfc3339DatesAndAges) {
  const auto now = at_ms(1'764'844'800'000);  // 2025-12-04T10:40:00Z
  EXPECT_EQ(*parse_time("1970-01-01T00:00:00Z", now), 0);
  EXPECT_EQ(*parse_time("2025-12-04T10:40:00Z", now), 1'764'844'800'000);
  EXPECT_EQ(*parse_time("2025-12-04T10:40:00.25Z", now), 1'764'844'800'250);
  EXPECT_EQ(*parse_time("2025-12-04T16:10:00+05:30", now), 1'764'844'800'000);
  EXPECT_EQ(*parse_time("2025-12-04T05:40:00-05:00", now), 1'764'844'800'000);
  EXPECT_EQ(*parse_time("2025-12-04", now), 1'764'806'400'000);
  EXPECT_EQ(*parse_time("90s", now), 1'764'844'800'000 - 90'000);
  EXPECT_EQ(*parse_time("30m", now), 1'764'844'800'000 - 1'800'000);
  EXPECT_EQ(*parse_time("2h", now), 1'764'844'800'000 - 7'200'000);
  EXPECT_EQ(*parse_time("7d", now), 1'764'844'800'000 - 7 * kDay);
}

TEST(ParseTime, RefusesWhatIsNotATime) {
  const auto now = system_clock::now();
  for (const char* bad : {"", "yesterday", "2h30m", "-5m", "2025-13-01", "2025-02-31",
                          "2025-12-04T25:00:00Z", "2025-12-04T10:00:00", "2025-12-04T10:00Z",
                          "2025-12-04T10:00:00+0530", "2025-12-04T10:00:00.Z", "12/04/2025"}) {
    const auto t = parse_time(bad, now);
    ASSERT_FALSE(t) << bad;
    EXPECT_NE(t.error().message.find("RFC 3339"), std::string::npos) << t.error().message;
  }
}

Selection reasons(std::vector<std::string> r) {
  Selection s;
  s.reasons = std::move(r);
  return s;
}
Selection until(std::int64_t ms) {
  Selection s;
  s.until_ms = ms;
  return s;
}
Selection limit(std::uint64_t n) {
  Selection s;
  s.limit = n;
  return s;
}

std::vector<core::Header> letter_headers(std::string_view reason, std::string_view source,
                                         std::string_view attempts = {}, bool truncated = false) {
  std::vector<core::Header> h = {{"traceparent", "00-abc"},
                                 {deadletter::kReasonHeader, reason},
                                 {deadletter::kMessageHeader, "why"},
                                 {deadletter::kSourceHeader, source},
                                 {deadletter::kVersionHeader, "1.0"}};
  if (!attempts.empty()) {
    h.push_back({deadletter::kAttemptsHeader, attempts});
  }
  if (truncated) {
    h.push_back({deadletter::kTruncatedHeader, "true"});
  }
  return h;
}

TEST(ReadHeaders, ReadsWhatTheDeadLetterWriterWrote) {
  const auto h = letter_headers("unmapped", "capillary.events/3/1234", "2");
  const LetterHeaders l = read_headers(h);
  EXPECT_EQ(l.reason, "unmapped");
  EXPECT_EQ(l.source, "capillary.events/3/1234");
  EXPECT_EQ(l.topic, "capillary.events");
  EXPECT_EQ(l.attempts, 2U);
  EXPECT_FALSE(l.truncated);
  EXPECT_TRUE(read_headers(letter_headers("x", "t/0/1", {}, true)).truncated);
  EXPECT_EQ(read_headers(letter_headers("x", "t/0/1", "0")).attempts, 1U) << "not a count";
  EXPECT_EQ(read_headers(letter_headers("x", "t/0/1", "2x")).attempts, 1U) << "not a count";
  EXPECT_EQ(read_headers(letter_headers("x", "/0/1")).topic, "") << "no topic";
  EXPECT_TRUE(read_headers({}).reason.empty());
  EXPECT_TRUE(is_bridge_header("capillary-bridge.reason"));
  EXPECT_FALSE(is_bridge_header("traceparent"));
}

TEST(Choose, SelectsByReasonAndTime) {
  const auto h = letter_headers("unmapped", "events/0/7");
  const LetterHeaders l = read_headers(h);
  Selection any;
  EXPECT_EQ(choose(l, 1000, any), Choice::redrive);
  const Selection by_reason = reasons({"platform-rejected", "unmapped"});
  EXPECT_EQ(choose(l, 1000, by_reason), Choice::redrive);
  const Selection other = reasons({"platform-rejected"});
  EXPECT_EQ(choose(l, 1000, other), Choice::not_selected);
  Selection window;
  window.since_ms = 1000;
  window.until_ms = 2000;
  EXPECT_EQ(choose(l, 999, window), Choice::not_selected);
  EXPECT_EQ(choose(l, 1000, window), Choice::redrive);
  EXPECT_EQ(choose(l, 2000, window), Choice::redrive);
  EXPECT_EQ(choose(l, 2001, window), Choice::after_until);
  // A reduced letter, or one the bridge did not write, cannot be redriven when selected...
  const auto cut = letter_headers("too-large", "events/0/8", {}, true);
  EXPECT_EQ(choose(read_headers(cut), 1000, any), Choice::not_redrivable);
  EXPECT_EQ(choose(read_headers({}), 1000, any), Choice::not_redrivable);
  // ... and is simply not selected when the selection names other reasons.
  EXPECT_EQ(choose(read_headers(cut), 1000, other), Choice::not_selected);
}

// A dead-letter topic: records with headers and timestamps, handed out once assigned.
class LetterTopic final : public source::Source {
 public:
  struct Letter {
    std::int32_t partition;
    std::int64_t offset;
    std::int64_t timestamp_ms;
    std::string key;
    std::string payload;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  void add(Letter l) { letters_.push_back(std::move(l)); }
  // The group takes the partitions away and gives them back: read again from the start.
  void reassign() {
    assigned_ = false;
    next_ = 0;
  }
  void set_listener(source::RebalanceListener* l) override { listener_ = l; }
  core::Result<void> poll(std::vector<source::Record>& out, std::size_t max,
                          std::chrono::milliseconds /*timeout*/) override {
    if (!assigned_ && listener_ != nullptr) {
      assigned_ = true;
      std::vector<source::TopicPartition> parts;
      for (int p = 0; p < partitions; ++p) {
        parts.push_back({"dlq", p});
      }
      listener_->on_assigned(parts);
    }
    while (next_ < letters_.size() && out.size() < max) {
      auto* l = new Letter(letters_[next_++]);
      std::vector<core::Header> headers;
      for (const auto& [n, v] : l->headers) {
        headers.push_back({n, v});
      }
      core::RecordView v;
      v.topic = "dlq";
      v.partition = l->partition;
      v.offset = l->offset;
      v.timestamp_ms = l->timestamp_ms;
      v.key = l->key;
      v.payload = l->payload;
      out.emplace_back(v, std::move(headers), l, [](void* p) { delete static_cast<Letter*>(p); });
    }
    return {};
  }
  void pause(std::span<const source::TopicPartition> /*parts*/) override {}
  void resume(std::span<const source::TopicPartition> /*parts*/) override {}
  void store(const source::TopicPartition& tp, std::int64_t next) override { stored[tp] = next; }
  core::Result<void> commit(bool /*synchronous*/) override {
    ++commits;
    return {};
  }
  void close() override {}

  int partitions = 1;
  std::map<source::TopicPartition, std::int64_t> stored;
  int commits = 0;

 private:
  source::RebalanceListener* listener_ = nullptr;
  bool assigned_ = false;
  std::vector<Letter> letters_;
  std::size_t next_ = 0;
};

std::vector<std::pair<std::string, std::string>> owned(const std::vector<core::Header>& h) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& x : h) {
    out.emplace_back(std::string(x.name), std::string(x.value));
  }
  return out;
}

std::string event(int i) {
  return "{\"eventName\":\"pointsIssued\",\"eventId\":\"id-" + std::to_string(i) +
         "\",\"orgId\":1,\"createdAt\":1700000000000,\"data\":{}}";
}

TEST(LetterSource, HandsOnTheOriginalRecordsAndEndsWhereTheTopicEndedAtTheStart) {
  LetterTopic topic;
  topic.partitions = 2;
  topic.add({0, 10, 5000, "k1", event(1), owned(letter_headers("unmapped", "events/1/41", "2"))});
  topic.add(
      {0, 11, 5000, "k2", event(2), owned(letter_headers("platform-rejected", "events/0/9"))});
  topic.add(
      {0, 12, 5000, "k3", event(3), owned(letter_headers("unmapped", "events/0/10", {}, true))});
  topic.add({0, 13, 5000, "k4", event(4), owned(letter_headers("unmapped", "events/0/11"))});
  topic.add({1, 0, 9000, "k5", event(5), owned(letter_headers("unmapped", "events/1/50"))});
  // Partition 0 ended at 13 when the run started: offset 13 came later and stays unread.
  LetterSource source(topic, reasons({"unmapped"}), {{0, Range{10, 13}}, {1, Range{0, 1}}}, false);
  EXPECT_FALSE(source.done());
  EXPECT_EQ(source.remaining(), 4);
  struct Listener final : source::RebalanceListener {
    void on_assigned(std::span<const source::TopicPartition> /*p*/) override {}
    void on_revoked(std::span<const source::TopicPartition> /*p*/, bool /*lost*/) override {}
  } listener;
  source.set_listener(&listener);
  std::vector<source::Record> out;
  ASSERT_TRUE(source.poll(out, 100, std::chrono::milliseconds(0)));
  ASSERT_EQ(out.size(), 4U) << "offset 13 is past the run's end";
  EXPECT_TRUE(source.done());
  EXPECT_EQ(source.remaining(), 0);
  EXPECT_EQ(source.taken(), 2U);

  const core::RecordView first = out[0].view();
  EXPECT_EQ(first.topic, "dlq") << "offsets are the dead-letter topic's";
  EXPECT_EQ(first.offset, 10);
  EXPECT_EQ(first.key, "k1");
  EXPECT_EQ(first.payload, event(1));
  ASSERT_EQ(first.headers.size(), 1U)
      << "capillary-bridge.* headers are the letter's, not the event's";
  EXPECT_EQ(first.headers[0].name, "traceparent");
  ASSERT_NE(first.redrive, nullptr);
  EXPECT_EQ(first.redrive->topic, "events");
  EXPECT_EQ(first.redrive->source, "events/1/41");
  EXPECT_EQ(first.redrive->reason, "unmapped");
  EXPECT_EQ(first.redrive->attempts, 2U);
  EXPECT_FALSE(first.redrive->pass_over);

  const core::RecordView other = out[1].view();
  ASSERT_NE(other.redrive, nullptr);
  EXPECT_TRUE(other.redrive->pass_over) << "another reason";
  EXPECT_TRUE(other.redrive->redrivable);
  const core::RecordView cut = out[2].view();
  EXPECT_TRUE(cut.redrive->pass_over) << "payload cut";
  EXPECT_FALSE(cut.redrive->redrivable);
  EXPECT_EQ(out[3].view().partition, 1);
  EXPECT_FALSE(out[3].view().redrive->pass_over);
}

TEST(LetterSource, UntilEndsAPartitionAndLimitEndsTheRun) {
  {
    LetterTopic topic;
    topic.add({0, 0, 1000, "", event(1), owned(letter_headers("unmapped", "events/0/1"))});
    topic.add({0, 1, 3000, "", event(2), owned(letter_headers("unmapped", "events/0/2"))});
    topic.add({0, 2, 1500, "", event(3), owned(letter_headers("unmapped", "events/0/3"))});
    LetterSource source(topic, until(2000), {{0, Range{0, 3}}}, false);
    std::vector<source::Record> out;
    ASSERT_TRUE(source.poll(out, 100, std::chrono::milliseconds(0)));
    EXPECT_EQ(out.size(), 1U) << "letters after --until, and all behind them, stay unread";
    EXPECT_TRUE(source.done());
  }
  {
    LetterTopic topic;
    for (int i = 0; i < 5; ++i) {
      topic.add({0, i, 1000, "", event(i), owned(letter_headers("unmapped", "events/0/1"))});
    }
    LetterSource source(topic, limit(2), {{0, Range{0, 5}}}, false);
    std::vector<source::Record> out;
    ASSERT_TRUE(source.poll(out, 100, std::chrono::milliseconds(0)));
    EXPECT_EQ(out.size(), 2U);
    EXPECT_TRUE(source.done());
  }
  {
    LetterTopic topic;
    LetterSource source(topic, Selection{}, {{0, Range{7, 7}}, {1, Range{3, 3}}}, false);
    EXPECT_TRUE(source.done()) << "nothing after the group's position";
  }
}

// A partition given back after a rebalance is read again from its committed offset: the letters
// read before are handed on again (the pipeline dropped them unsettled), not taken as done.
TEST(LetterSource, APartitionAssignedAgainIsReadAgain) {
  LetterTopic topic;
  topic.add({0, 0, 1000, "", event(1), owned(letter_headers("unmapped", "events/0/1"))});
  topic.add({0, 1, 1000, "", event(2), owned(letter_headers("unmapped", "events/0/2"))});
  LetterSource source(topic, Selection{}, {{0, Range{0, 2}}}, false);
  struct Listener final : source::RebalanceListener {
    int assigned = 0;
    void on_assigned(std::span<const source::TopicPartition> /*p*/) override { ++assigned; }
    void on_revoked(std::span<const source::TopicPartition> /*p*/, bool /*lost*/) override {}
  } listener;
  source.set_listener(&listener);
  std::vector<source::Record> out;
  ASSERT_TRUE(source.poll(out, 100, std::chrono::milliseconds(0)));
  EXPECT_EQ(out.size(), 2U);
  EXPECT_TRUE(source.done());
  topic.reassign();
  out.clear();
  ASSERT_TRUE(source.poll(out, 100, std::chrono::milliseconds(0)));
  EXPECT_EQ(listener.assigned, 2) << "the pipeline hears of every assignment";
  EXPECT_EQ(out.size(), 2U) << "letters read before the rebalance were dropped";
  EXPECT_TRUE(source.done());
}

TEST(LetterSource, DryRunMovesNoOffset) {
  LetterTopic topic;
  LetterSource dry(topic, Selection{}, {{0, Range{0, 1}}}, true);
  dry.store({"dlq", 0}, 1);
  ASSERT_TRUE(dry.commit(true));
  EXPECT_TRUE(topic.stored.empty());
  EXPECT_EQ(topic.commits, 0);
  LetterSource real(topic, Selection{}, {{0, Range{0, 1}}}, false);
  real.store({"dlq", 0}, 1);
  ASSERT_TRUE(real.commit(true));
  EXPECT_EQ(topic.stored.size(), 1U);
  EXPECT_EQ(topic.commits, 1);
}

// The pipeline over letters: a route on "events" takes letters that came from "events" (though
// they are read from "dlq"), letters from a topic without a route fail again as unmapped, passed
// over ones settle untouched, and the committed position moves past all of them.
TEST(RedrivePipeline, RoutesByTheOriginalTopicAndTalliesEachOutcome) {
  transforms::Registry registry;
  transforms::register_builtin_transforms(registry);
  transforms::Target target;
  target.name = "default";
  auto targets = std::make_shared<const std::vector<transforms::Target>>(
      std::vector<transforms::Target>{target});
  core::Diagnostics diags("test");
  std::vector<transforms::RouteSpec> specs;
  specs.push_back({{"events"}, {}, "passthrough", YAML::Load("{target: default}"), YAML::Mark()});
  auto built = transforms::RouterPlan::build(specs, registry, std::move(targets), diags);
  ASSERT_TRUE(built) << diags.to_string();
  auto plan = std::make_shared<const transforms::RouterPlan>(std::move(*built));

  LetterTopic topic;
  topic.add({0, 0, 1000, "a", event(1), owned(letter_headers("unmapped", "events/0/5"))});
  topic.add({0, 1, 1000, "b", event(2), owned(letter_headers("unmapped", "elsewhere/0/6"))});
  topic.add({0, 2, 1000, "c", event(3), owned(letter_headers("malformed-json", "events/0/7"))});
  topic.add({0, 3, 1000, "d", event(4), owned(letter_headers("unmapped", "events/0/8", {}, true))});
  LetterSource source(topic, reasons({"unmapped"}), {{0, Range{0, 4}}}, false);
  testing::FakeSink sink;
  testing::FakeDeadLetters letters;
  metrics::Metrics metrics;
  Tally tally(&metrics);
  pipeline::Pipeline pipe({source, sink, letters, metrics, plan}, config::PipelineConfig{});
  pipe.set_settled_hook([&tally](const core::RecordView& r, pipeline::Settled how,
                                 std::string_view reason) { tally.settled(r, how, reason); });
  bool finished = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  pipe.set_tick([&](const pipeline::Stats& s) {
    if (source.done() && s.inflight_records == 0) {
      finished = true;
      pipe.request_stop();
    } else if (std::chrono::steady_clock::now() > deadline) {
      pipe.request_stop();
    }
  });
  const auto result = pipe.run();
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_TRUE(finished) << "the run did not end by itself";

  ASSERT_EQ(sink.sent.size(), 1U);
  EXPECT_EQ(sink.sent[0].body, event(1));
  ASSERT_EQ(letters.written.size(), 1U);
  EXPECT_EQ(letters.written[0].reason, "unmapped");
  EXPECT_EQ(letters.written[0].payload, event(2));
  EXPECT_EQ(topic.stored.at({"dlq", 0}), 4) << "the group moves past every letter it read";

  const auto& by = tally.by_reason();
  ASSERT_TRUE(by.contains("unmapped"));
  EXPECT_EQ(by.at("unmapped").letters, 3U);
  EXPECT_EQ(by.at("unmapped").delivered, 1U);
  EXPECT_EQ(by.at("unmapped").failed, 1U);
  EXPECT_EQ(by.at("unmapped").failed_by.at("unmapped"), 1U);
  EXPECT_EQ(by.at("unmapped").not_redrivable, 1U);
  EXPECT_EQ(by.at("malformed-json").passed_over, 1U);
  std::ostringstream table;
  tally.print(table, false);
  EXPECT_NE(table.str().find("failed again, by new reason: unmapped 1"), std::string::npos)
      << table.str();
  const std::string exposition =
      prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
  EXPECT_NE(
      exposition.find(
          "capillary_bridge_redrive_letters_total{outcome=\"delivered\",reason=\"unmapped\"} 1"),
      std::string::npos)
      << exposition;
}

TEST(ReasonLabel, KeepsCodesAndFoldsTheRest) {
  EXPECT_EQ(reason_label("platform-rejected"), "platform-rejected");
  EXPECT_EQ(reason_label("Some Text"), "other");
  EXPECT_EQ(reason_label(""), "other");
  EXPECT_EQ(reason_label(std::string(41, 'a')), "other");
}

}  // namespace
}  // namespace bridge::redrive

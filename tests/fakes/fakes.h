#pragma once
// Fakes for the pipeline's collaborators (fakes over mocks): an in-memory source with real
// rebalance callbacks, a sink whose verdicts a test scripts, and a dead-letter writer that can
// fail on demand. Single-threaded: everything runs on the pipeline thread.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bridge/deadletter/writer.h"
#include "bridge/sink/sink.h"
#include "bridge/source/source.h"

namespace bridge::testing {

struct FakeMessage {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string key;
  std::string payload;
};

class FakeSource final : public source::Source {
 public:
  // Queues records; they are handed out in order per partition while assigned and not paused.
  void add(const std::string& topic, std::int32_t partition, std::string payload,
           std::string key = "k") {
    auto& q = queues_[{topic, partition}];
    const std::int64_t offset = next_offset_[{topic, partition}]++;
    q.push_back({topic, partition, offset, std::move(key), std::move(payload)});
  }
  // Rebalances happen on the next poll, like librdkafka's callbacks.
  void assign(std::vector<source::TopicPartition> parts) { to_assign_ = std::move(parts); }
  void revoke(std::vector<source::TopicPartition> parts) { to_revoke_ = std::move(parts); }

  void set_listener(source::RebalanceListener* l) override { listener_ = l; }
  core::Result<void> poll(std::vector<source::Record>& out, std::size_t max,
                          std::chrono::milliseconds timeout) override {
    ++polls;
    if (on_poll) {
      on_poll(polls);
    }
    if (!to_assign_.empty() && listener_ != nullptr) {
      auto parts = std::move(to_assign_);
      to_assign_.clear();
      listener_->on_assigned(parts);
      for (auto& tp : parts) {
        assigned.insert(tp);
        // A new owner starts from the committed position.
        auto& q = queues_[tp];
        const std::int64_t from = committed.contains(tp) ? committed[tp] : 0;
        std::erase_if(q, [from](const FakeMessage& m) { return m.offset < from; });
        position_[tp] = from;
      }
    }
    if (!to_revoke_.empty() && listener_ != nullptr) {
      auto parts = std::move(to_revoke_);
      to_revoke_.clear();
      listener_->on_revoked(parts, false);
      for (auto& tp : parts) {
        if (stored.contains(tp)) {
          committed[tp] = stored[tp];
        }
        assigned.erase(tp);
        // Like librdkafka, a pause outlives the assignment: only resume() clears it.
      }
    }
    for (auto& [tp, q] : queues_) {
      if (!assigned.contains(tp) || paused.contains(tp)) {
        continue;
      }
      for (const auto& m : q) {
        if (out.size() >= max) {
          break;
        }
        if (m.offset < position_[tp]) {
          continue;
        }
        position_[tp] = m.offset + 1;
        auto* owned = new FakeMessage(m);
        core::RecordView v;
        v.topic = owned->topic;
        v.partition = owned->partition;
        v.offset = owned->offset;
        v.key = owned->key;
        v.payload = owned->payload;
        out.emplace_back(v, std::vector<core::Header>{}, owned,
                         [](void* h) { delete static_cast<FakeMessage*>(h); });
        ++handed_out;
      }
    }
    if (out.empty()) {
      std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(1)));
    }
    return {};
  }
  void pause(std::span<const source::TopicPartition> parts) override {
    for (const auto& tp : parts) {
      paused.insert(tp);
      ++pause_calls;
      // Like librdkafka: fetched-but-undelivered messages are refetched from the position.
    }
  }
  void resume(std::span<const source::TopicPartition> parts) override {
    for (const auto& tp : parts) {
      paused.erase(tp);
    }
  }
  void store(const source::TopicPartition& tp, std::int64_t next_offset) override {
    stored[tp] = next_offset;
    store_history.emplace_back(tp, next_offset);
  }
  core::Result<void> commit(bool synchronous) override {
    ++(synchronous ? sync_commits : async_commits);
    for (const auto& [tp, off] : stored) {
      if (assigned.contains(tp)) {
        committed[tp] = off;
      }
    }
    return {};
  }
  void close() override {
    ++closes;
    std::vector<source::TopicPartition> all(assigned.begin(), assigned.end());
    if (!all.empty() && listener_ != nullptr) {
      listener_->on_revoked(all, false);
    }
    (void)commit(true);
    assigned.clear();
  }

  std::function<void(int)> on_poll;
  int polls = 0;
  int pause_calls = 0;
  int sync_commits = 0;
  int async_commits = 0;
  int closes = 0;
  std::uint64_t handed_out = 0;
  std::set<source::TopicPartition> assigned;
  std::set<source::TopicPartition> paused;
  std::map<source::TopicPartition, std::int64_t> stored;
  std::map<source::TopicPartition, std::int64_t> committed;
  std::vector<std::pair<source::TopicPartition, std::int64_t>> store_history;

 private:
  source::RebalanceListener* listener_ = nullptr;
  std::map<source::TopicPartition, std::vector<FakeMessage>> queues_;
  std::map<source::TopicPartition, std::int64_t> next_offset_;
  std::map<source::TopicPartition, std::int64_t> position_;
  std::vector<source::TopicPartition> to_assign_;
  std::vector<source::TopicPartition> to_revoke_;
};

struct SentMessage {
  std::uint64_t ticket;
  std::string body;
  std::int32_t partition;
  std::int64_t offset;
  std::string order_key;
};

// Verdicts come from `policy` (default: delivered); `hold` keeps verdicts back until released,
// `hold_polls` for a number of poll() calls.
class FakeSink final : public sink::Sink {
 public:
  std::function<sink::Verdict(const SentMessage&, int attempt)> policy;
  std::function<bool(const SentMessage&)> withhold;  // these never get a verdict
  bool hold = false;
  int hold_polls = 0;  // the next this many poll() calls return no verdicts

  std::string_view name() const override { return "fake"; }
  void send(std::span<const sink::Message> messages) override {
    for (const auto& m : messages) {
      SentMessage s{m.ticket, std::string(m.body), m.source_partition, m.source_offset,
                    std::string(m.order_key)};
      const int attempt = ++attempts_[{m.source_partition, m.source_offset}];
      sent.push_back(s);
      if (withhold && withhold(s)) {
        continue;
      }
      const auto v = policy ? policy(s, attempt) : sink::Verdict::delivered;
      queued_.push_back({s, v});
    }
  }
  void poll(std::vector<sink::Outcome>& out, std::chrono::milliseconds) override {
    if (hold) {
      return;
    }
    if (hold_polls > 0) {
      --hold_polls;
      return;
    }
    for (auto& [s, v] : queued_) {
      if (v == sink::Verdict::delivered) {
        delivered.push_back(s);
      }
      out.push_back({s.ticket, v, v == sink::Verdict::rejected ? "sink-rejected" : "",
                     v == sink::Verdict::rejected ? "fake sink said no" : ""});
    }
    queued_.clear();
  }
  bool flush(std::chrono::milliseconds) override { return true; }
  bool ready() const override { return true; }
  // Models requests in flight finishing while release() waits: with `finish_on_release`, held
  // verdicts become available.
  bool release(std::span<const sink::PartitionRef> parts, std::chrono::milliseconds) override {
    for (const auto& p : parts) {
      released.emplace_back(std::string(p.topic), p.partition);
    }
    if (finish_on_release) {
      hold = false;
    }
    return true;
  }
  std::int64_t held_bytes() const override { return held; }
  std::vector<std::pair<std::string, std::int32_t>> released;
  bool finish_on_release = false;
  std::int64_t held = 0;  // what held_bytes() reports

  std::vector<SentMessage> sent;
  std::vector<SentMessage> delivered;
  [[nodiscard]] std::size_t queued() const { return queued_.size(); }

 private:
  std::vector<std::pair<SentMessage, sink::Verdict>> queued_;
  std::map<std::pair<std::int32_t, std::int64_t>, int> attempts_;
};

struct Letter {
  std::string topic;
  std::int32_t partition;
  std::int64_t offset;
  std::string payload;
  std::string reason;
  std::string message;
  bool reduced = false;
};

class FakeDeadLetters final : public deadletter::Writer {
 public:
  int fail_next = 0;  // this many writes fail (transiently) before writes succeed
  // Full letters fail for good (as a topic refusing the size would); reduced ones succeed
  // unless `refuse_reduced` too.
  bool refuse_full = false;
  bool refuse_reduced = false;
  bool hold = false;  // keep results back

  std::string_view topic() const override { return "fake.dlq"; }
  void write(const deadletter::Letter& l) override {
    const auto& r = *l.record;
    pending_.push_back({l.ticket,
                        {std::string(r.topic), r.partition, r.offset, std::string(r.payload),
                         std::string(l.reason), std::string(l.message), l.reduce}});
  }
  void poll(std::vector<deadletter::WriteResult>& out, std::chrono::milliseconds) override {
    if (hold) {
      return;
    }
    for (auto& [ticket, letter] : pending_) {
      if (fail_next > 0) {
        --fail_next;
        ++failures;
        out.push_back({ticket, false, false, letter.reduced, "broker unavailable"});
        continue;
      }
      if (letter.reduced ? refuse_reduced : refuse_full) {
        ++failures;
        out.push_back({ticket, false, true, letter.reduced, "Broker: Message size too large"});
        continue;
      }
      written.push_back(letter);
      out.push_back({ticket, true, false, letter.reduced, {}});
    }
    pending_.clear();
  }
  bool flush(std::chrono::milliseconds) override { return true; }

  std::vector<Letter> written;
  int failures = 0;

 private:
  std::vector<std::pair<std::uint64_t, Letter>> pending_;
};

}  // namespace bridge::testing

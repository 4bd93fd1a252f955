#include "bridge/pipeline/pipeline.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "bridge/core/fatal.h"

namespace bridge::pipeline {
namespace {

constexpr std::size_t kPollBatch = 2000;
constexpr std::uint64_t kOutputsPerRecord = 256;  // tickets: seq * 256 + output index
constexpr auto kIdlePoll = std::chrono::milliseconds(100);
constexpr auto kRetryLogInterval = std::chrono::seconds(10);
// How long a revoke waits for the sink's requests in flight for the revoked partitions.
constexpr auto kMaxRevokeWait = std::chrono::milliseconds(10000);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Pipeline::Pipeline(Dependencies deps, config::PipelineConfig cfg)
    : deps_(std::move(deps)), cfg_(cfg), stage_(deps_.plan) {
  if (cfg_.workers > 0) {
    workers_ = std::make_unique<Workers>(static_cast<std::size_t>(cfg_.workers), deps_.plan);
    worker_partitions_.assign(static_cast<std::size_t>(cfg_.workers), 0);
    spdlog::info("transforms run on {} worker thread(s)", cfg_.workers);
  }
  deps_.source.set_listener(this);
  last_turn_ns_.store(now_ns(), std::memory_order_relaxed);
}

Pipeline::~Pipeline() {
  deps_.source.set_listener(nullptr);
}

bool Pipeline::healthy() const {
  return now_ns() - last_turn_ns_.load(std::memory_order_relaxed) < 30'000'000'000;
}

bool Pipeline::ready() const {
  return assigned_.load(std::memory_order_relaxed) > 0 && deps_.sink.ready() &&
         dead_letters_waiting_.load(std::memory_order_relaxed) == 0;
}

std::chrono::milliseconds Pipeline::backoff(int attempt) const {
  // Exponential with full jitter, capped.
  const auto cap = cfg_.retry_backoff_max.count();
  const auto base = cfg_.retry_backoff_initial.count();
  const auto exp = std::min<std::int64_t>(cap, base << std::min(attempt, 20));
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> dist(0, exp);
  return std::chrono::milliseconds(dist(rng));
}

core::Result<void> Pipeline::run() {
  auto next_tick = Clock::now() + std::chrono::seconds(1);
  bool draining = false;
  Clock::time_point drain_deadline;
  core::Result<void> result;
  for (;;) {
    const auto now = Clock::now();
    last_turn_ns_.store(now_ns(), std::memory_order_relaxed);
    if (!fatal_) {
      if (auto reason = core::fatal_reason()) {
        stop_fatal("thread-failure", *reason);
      }
    }
    if (fatal_) {
      break;  // nothing more is sent or stored past the failed record
    }
    if (!draining && stop_requested_.load(std::memory_order_relaxed)) {
      draining = true;
      drain_deadline = now + cfg_.drain_timeout;
      spdlog::info("stopping: draining {} in-flight record(s), deadline {} ms", pending_.size(),
                   cfg_.drain_timeout.count());
    }
    if (draining && (pending_.empty() || now >= drain_deadline)) {
      break;
    }
    if (!draining) {
      poll_batch_.clear();
      const bool busy = !pending_.empty();
      if (auto r = deps_.source.poll(poll_batch_, kPollBatch,
                                     busy ? std::chrono::milliseconds(0) : kIdlePoll);
          !r) {
        spdlog::critical("consumer failed: {}", r.error().message);
        result = tl::unexpected(r.error());
        break;
      }
      process(poll_batch_);
    }
    collect_transforms();
    if (fatal_) {
      break;  // raised during this turn: send nothing more
    }
    resend_due(now);
    flush_sends();
    const bool idle_source = poll_batch_.empty() || draining;
    // With transforms out, their results are what this turn waits for (below), not verdicts.
    collect_verdicts(idle_source && !pending_.empty() && transforms_out_ == 0
                         ? std::chrono::milliseconds(5)
                         : std::chrono::milliseconds(0));
    if (idle_source && transforms_out_ > 0) {
      workers_->wait_done(std::chrono::milliseconds(5));
    }
    store_positions();
    apply_backpressure();
    log_retry_summary(now);
    if (now >= next_tick) {
      next_tick = now + std::chrono::seconds(1);
      release_free_memory();
      publish_gauges();
      if (tick_) {
        tick_(stats_);
      }
    }
  }
  if (fatal_) {
    spdlog::critical("stopping: {}", fatal_->message);
    if (result) {
      result = tl::unexpected(*fatal_);
    }
  } else if (result && !pending_.empty()) {
    const std::size_t unsettled = pending_.size();
    report_unsettled();
    result = core::fail(core::ErrorKind::retry, std::string(kDrainDeadline),
                        fmt::format("the drain deadline ({} ms) passed with {} record(s) not "
                                    "delivered; they will be redelivered",
                                    cfg_.drain_timeout.count(), unsettled));
  }
  store_positions();
  if (auto r = deps_.source.commit(true); !r) {
    spdlog::warn("final commit failed: {}", r.error().message);
  }
  shutting_down_ = true;
  // Release every consumed message before the consumer is closed and destroyed (librdkafka's
  // destroy waits for outstanding messages), whether or not close delivers a revoke. Positions
  // were stored and committed above, so this is the "lost" path: drop, store nothing more.
  std::vector<source::TopicPartition> all;
  all.reserve(partitions_.size());
  for (const auto& [tp, part] : partitions_) {
    all.push_back(tp);
  }
  on_revoked(all, true);
  deps_.source.close();
  publish_gauges();
  if (tick_) {
    tick_(stats_);
  }
  return result;
}

void Pipeline::process(std::vector<source::Record>& batch) {
  for (auto& record : batch) {
    if (fatal_) {
      break;  // the rest is not ours to send: it is redelivered after the restart
    }
    handle_record(std::move(record));
  }
  batch.clear();
  if (workers_) {
    workers_->submit();
  }
}

Pipeline::Partition* Pipeline::find_partition(std::string_view topic, std::int32_t partition) {
  // Heterogeneous lookup would need a custom comparator on TopicPartition; the common case is a
  // handful of partitions, so a linear scan over the map is cheaper than building a key.
  for (auto& [tp, part] : partitions_) {
    if (tp.partition == partition && tp.topic == topic) {
      return part.get();
    }
  }
  return nullptr;
}

void Pipeline::handle_record(source::Record record) {
  const core::RecordView view = record.view();
  Partition* part = find_partition(view.topic, view.partition);
  if (part == nullptr || !part->tracker.track(view.offset)) {
    // Not ours (revoked mid-batch) or already seen: the owner of the partition will handle it.
    return;
  }
  ++stats_.consumed;
  deps_.metrics.consumed(view.topic).Increment();

  const std::uint64_t seq = next_seq_++;
  auto [it, inserted] = pending_.try_emplace(seq, std::move(record), part, seq);
  Pending& p = it->second;
  part->order.push_back(seq);
  stats_.inflight_records += 1;
  count_bytes(p, static_cast<std::int64_t>(p.record.size_bytes()));

  const core::RecordView v = p.record.view();
  if (v.redrive != nullptr && v.redrive->pass_over) {
    ++stats_.passed_over;
    settle(p, Settled::passed_over);
    return;
  }
  if (static_cast<std::int64_t>(v.payload.size()) > cfg_.max_event_bytes) {
    dead_letter(p, "too-large",
                fmt::format("payload is {} bytes; the limit (pipeline.max_event_bytes) is {}",
                            v.payload.size(), cfg_.max_event_bytes));
    return;
  }
  if (run_transform(p) && !part->blocked) {
    send_outputs(p);
  }
}

bool Pipeline::run_transform(Pending& p) {
  // A record is transformed again only after a failed attempt, which left no outputs (they are
  // counted in bytes only once a transform succeeds).
  p.needs_transform = false;
  TransformJob* job = lend_job(p);
  if (workers_) {
    p.transforming = true;
    ++transforms_out_;
    workers_->add(p.partition->worker, job);
    return false;
  }
  run_job(stage_, *job);
  const bool send = finish_transform(p, *job);
  return_job(job);
  return send;
}

TransformJob* Pipeline::lend_job(Pending& p) {
  std::unique_ptr<TransformJob> job;
  if (free_jobs_.empty()) {
    job = std::make_unique<TransformJob>();
  } else {
    job = std::move(free_jobs_.back());
    free_jobs_.pop_back();
  }
  job->view = p.record.view();
  job->tag = p.seq;
  return job.release();
}

void Pipeline::return_job(TransformJob* job) {
  job->outputs.clear();
  job->warnings.clear();
  job->result = {};
  free_jobs_.emplace_back(job);
}

void Pipeline::collect_transforms() {
  if (!workers_ || transforms_out_ == 0) {
    return;
  }
  transforms_done_.clear();
  workers_->take_done(transforms_done_);
  for (TransformJob* job : transforms_done_) {
    --transforms_out_;
    auto it = pending_.find(job->tag);
    if (it == pending_.end() || fatal_) {
      // Nothing more is sent past a failed record. (A missing record cannot happen: revokes
      // wait for the workers first.)
      if (it != pending_.end()) {
        it->second.transforming = false;
      }
      return_job(job);
      continue;
    }
    Pending& p = it->second;
    p.transforming = false;
    const bool send = finish_transform(p, *job);
    return_job(job);
    // Sent now only while its partition is not held: a held one re-sends in order (resend_due).
    if (send && !p.partition->blocked) {
      send_outputs(p);
    }
  }
}

bool Pipeline::finish_transform(Pending& p, TransformJob& job) {
  const core::RecordView v = p.record.view();
  p.order_key.swap(job.order_key);
  p.event = deps_.metrics.event_label(job.event);
  if (!job.transform.empty()) {
    deps_.metrics.routed(v.topic, p.event, job.transform).Increment();
  }
  for (const std::string& code : job.warnings) {
    deps_.metrics.transform_warning(job.transform, p.event, code).Increment();
  }
  if (!job.result) {
    p.outputs.clear();
    core::Error& e = job.result.error();
    switch (e.kind) {
      case core::ErrorKind::reject:
      case core::ErrorKind::permanent:
        dead_letter(p, std::move(e.code), std::move(e.message));
        return false;
      case core::ErrorKind::retry: {
        // Not this record's fault: it waits (and everything behind it in its partition) and is
        // transformed again after a backoff.
        p.needs_transform = true;
        ++stats_.transform_retries;
        note_retry(e.code);
        Partition& part = *p.partition;
        if (part.blocked) {
          // Held already (a re-send is waiting for this record): back off all the same.
          part.retry_at = std::max(part.retry_at, Clock::now() + backoff(part.retry_attempts++));
        } else {
          block(part, std::chrono::milliseconds(0));
        }
        return false;
      }
      case core::ErrorKind::fatal:
        stop_fatal(e.code, fmt::format("transform failed at {}/{} offset {} ({}): {}", v.topic,
                                       v.partition, v.offset, e.code, e.message));
        return false;
    }
  }
  deps_.metrics.transformed(v.topic, p.event, job.transform).Increment();
  p.outputs.clear();
  p.outputs.reserve(job.outputs.size());
  for (TransformJob::Output& o : job.outputs) {
    count_bytes(p, static_cast<std::int64_t>(o.body.size()));
    p.outputs.push_back({o.kind, o.target, std::move(o.body), o.unchanged, OutputState::unsent});
  }
  job.outputs.clear();
  if (p.outputs.size() >= kOutputsPerRecord) {
    dead_letter(p, "too-many-outputs",
                fmt::format("transform emitted {} outputs; the limit is {}", p.outputs.size(),
                            kOutputsPerRecord - 1));
    return false;
  }
  if (p.outputs.empty()) {
    ++stats_.filtered;
    settle(p, Settled::filtered);
    return false;
  }
  return true;
}

void Pipeline::block(Partition& part, std::chrono::milliseconds at_least) {
  if (part.blocked) {
    if (at_least.count() > 0) {
      part.retry_at = std::max(part.retry_at, Clock::now() + at_least);
    }
    return;
  }
  part.blocked = true;
  const auto wait = std::max(backoff(part.retry_attempts++), at_least);
  part.retry_at = Clock::now() + wait;
  deps_.metrics.sink_backoff_seconds.Increment(std::chrono::duration<double>(wait).count());
  // Paused at the source by apply_backpressure(), later in this turn.
}

void Pipeline::stop_fatal(std::string code, std::string message) {
  if (fatal_) {
    return;
  }
  fatal_ = core::Error{core::ErrorKind::fatal, std::move(code), std::move(message)};
}

void Pipeline::note_retry(std::string_view reason) {
  auto it = retry_counts_.find(reason);
  if (it == retry_counts_.end()) {
    it = retry_counts_.emplace(std::string(reason), 0).first;
  }
  ++it->second;
}

void Pipeline::log_retry_summary(Clock::time_point now) {
  if (retry_counts_.empty() || now < retry_log_at_) {
    return;
  }
  std::string counts;
  std::uint64_t total = 0;
  for (const auto& [reason, n] : retry_counts_) {
    counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", reason, n);
    total += n;
  }
  int blocked = 0;
  for (const auto& [tp, part] : partitions_) {
    blocked += part->blocked ? 1 : 0;
  }
  spdlog::warn("{} retries since the last summary ({}); {} partition(s) backing off", total, counts,
               blocked);
  retry_counts_.clear();
  retry_log_at_ = now + kRetryLogInterval;
}

Pipeline::Unsettled Pipeline::unsettled(const Partition& part) const {
  Unsettled u;
  std::optional<std::int64_t> first;
  for (auto seq : part.order) {
    if (auto it = pending_.find(seq); it != pending_.end()) {
      ++u.count;
      const auto offset = it->second.record.view().offset;
      first = first ? std::min(*first, offset) : offset;
    }
  }
  u.redeliver_from = part.tracker.commit_position().value_or(first.value_or(0));
  return u;
}

void Pipeline::report_unsettled() {
  for (const auto& [tp, part] : partitions_) {
    if (const Unsettled u = unsettled(*part); u.count > 0) {
      spdlog::warn("{}/{}: {} record(s) not delivered; they will be redelivered from offset {}",
                   tp.topic, tp.partition, u.count, u.redeliver_from);
    }
  }
}

void Pipeline::send_outputs(Pending& p) {
  const core::RecordView v = p.record.view();
  p.sent_at = Clock::now();
  for (std::size_t i = 0; i < p.outputs.size(); ++i) {
    Output& o = p.outputs[i];
    if (o.state == OutputState::delivered || o.state == OutputState::sent) {
      continue;
    }
    o.state = OutputState::sent;
    ++p.outstanding;
    send_batch_.push_back({p.seq * kOutputsPerRecord + i, o.kind, o.target, v.key,
                           o.unchanged ? v.payload : std::string_view(o.body), v.topic, v.partition,
                           v.offset, p.partition->epoch,
                           p.order_key.empty() ? v.key : std::string_view(p.order_key)});
  }
}

void Pipeline::flush_sends() {
  if (send_batch_.empty()) {
    return;
  }
  deps_.sink.send(send_batch_);
  send_batch_.clear();
}

void Pipeline::collect_verdicts(std::chrono::milliseconds wait) {
  outcomes_.clear();
  deps_.sink.poll(outcomes_, dead_letters_outstanding_ > 0 ? std::chrono::milliseconds(0) : wait);
  for (const auto& o : outcomes_) {
    on_outcome(o);
  }
  dl_results_.clear();
  deps_.dead_letters.poll(dl_results_, std::chrono::milliseconds(0));
  if (dl_results_.empty() && dead_letters_outstanding_ > 0 && outcomes_.empty()) {
    deps_.dead_letters.poll(dl_results_, wait);
  }
  for (const auto& r : dl_results_) {
    on_dead_letter_result(r);
  }
}

void Pipeline::on_outcome(const sink::Outcome& outcome) {
  const std::uint64_t seq = outcome.ticket / kOutputsPerRecord;
  const std::size_t index = outcome.ticket % kOutputsPerRecord;
  auto it = pending_.find(seq);
  if (it == pending_.end()) {
    return;  // the partition was revoked meanwhile; the new owner redelivers
  }
  Pending& p = it->second;
  if (index >= p.outputs.size() || p.outputs[index].state != OutputState::sent) {
    return;
  }
  Output& o = p.outputs[index];
  --p.outstanding;
  if (p.fate != Fate::delivering) {
    // The record is being dead-lettered already; this output no longer matters.
    o.state = OutputState::delivered;
    maybe_settle(p);
    return;
  }
  switch (outcome.verdict) {
    case sink::Verdict::delivered: {
      o.state = OutputState::delivered;
      p.partition->retry_attempts = 0;
      deps_.metrics.sink_latency_seconds.Observe(
          std::chrono::duration<double>(Clock::now() - p.sent_at).count());
      deps_.metrics
          .outputs_delivered(deps_.sink.name(), transforms::to_string(o.kind), o.target->name)
          .Increment();
      break;
    }
    case sink::Verdict::retry: {
      o.state = OutputState::retry_wait;
      ++stats_.retries;
      deps_.metrics.sink_retries.Increment();
      Partition& part = *p.partition;
      if (!part.blocked) {
        spdlog::debug("sink asked to retry {}/{} at offset {} ({}); partition paused",
                      part.tp.topic, part.tp.partition, p.record.view().offset, outcome.reason);
      }
      note_retry(outcome.reason.empty() ? std::string_view("sink-retry") : outcome.reason);
      block(part, outcome.retry_after);
      break;
    }
    case sink::Verdict::rejected: {
      o.state = OutputState::delivered;  // settled as far as the sink is concerned
      dead_letter(p, outcome.reason.empty() ? "sink-rejected" : outcome.reason, outcome.message);
      return;
    }
  }
  maybe_settle(p);
}

void Pipeline::maybe_settle(Pending& p) {
  if (p.outstanding > 0) {
    return;
  }
  if (p.fate == Fate::dead_lettered) {
    settle(p, Settled::dead_lettered);
    return;
  }
  if (p.fate != Fate::delivering) {
    return;
  }
  const bool all_delivered = std::all_of(p.outputs.begin(), p.outputs.end(), [](const Output& o) {
    return o.state == OutputState::delivered;
  });
  if (all_delivered) {
    ++stats_.delivered;
    deps_.metrics.records_delivered.Increment();
    settle(p, Settled::delivered);
  }
}

void Pipeline::dead_letter(Pending& p, std::string reason, std::string message) {
  p.fate = Fate::dead_lettering;
  p.reason = std::move(reason);
  p.message = std::move(message);
  spdlog::debug("dead-lettering {}/{} offset {}: {} ({})", p.record.view().topic,
                p.record.view().partition, p.record.view().offset, p.reason, p.message);
  write_dead_letter(p);
}

void Pipeline::write_dead_letter(Pending& p) {
  const core::RecordView v = p.record.view();
  p.fate = Fate::dead_lettering;
  ++dead_letters_outstanding_;
  deps_.dead_letters.write({p.seq, &v, p.reason, p.message, p.event, p.reduced});
}

void Pipeline::on_dead_letter_result(const deadletter::WriteResult& result) {
  if (dead_letters_outstanding_ > 0) {
    --dead_letters_outstanding_;
  }
  auto it = pending_.find(result.ticket);
  if (it == pending_.end() || it->second.fate != Fate::dead_lettering) {
    return;
  }
  Pending& p = it->second;
  const core::RecordView v = p.record.view();
  if (!result.written) {
    deps_.metrics.dead_letter_write_failures.Increment();
    if (result.permanent && (result.reduced || p.reduced)) {
      // Even the reduced letter was refused for good: stop rather than retry for ever or lose it.
      stop_fatal("dead-letter-refused",
                 fmt::format("the dead-letter topic '{}' refused the letter for {}/{} offset {} "
                             "(reason {}), even reduced: {}",
                             deps_.dead_letters.topic(), v.topic, v.partition, v.offset, p.reason,
                             result.error));
      return;
    }
    if (result.permanent) {
      spdlog::error(
          "dead-letter topic '{}' refused the letter for {}/{} offset {} ({}); writing "
          "a reduced letter",
          deps_.dead_letters.topic(), v.topic, v.partition, v.offset, result.error);
      p.reduced = true;
      write_dead_letter(p);
      return;
    }
    // Transient (broker down, queue full): keep the record, and so the partition's commit
    // position, and try again after a backoff.
    note_retry("dead-letter-write");
    if (p.dead_letter_attempts == 0) {
      spdlog::warn("dead-letter write to '{}' for {}/{} offset {} failed ({}); retrying",
                   deps_.dead_letters.topic(), v.topic, v.partition, v.offset, result.error);
      dead_letters_waiting_.fetch_add(1, std::memory_order_relaxed);
    }
    p.fate = Fate::dead_letter_retry_wait;
    dl_retry_.emplace_back(Clock::now() + backoff(++p.dead_letter_attempts), p.seq);
    return;
  }
  if (p.dead_letter_attempts > 0) {
    dead_letters_waiting_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (result.reduced) {
    ++stats_.reduced_dead_letters;
    deps_.metrics.dead_letters_reduced.Increment();
  }
  ++stats_.dead_lettered;
  ++stats_.dead_letter_reasons[p.reason];
  deps_.metrics.dead_lettered(p.record.view().topic, p.event, p.reason).Increment();
  p.fate = Fate::dead_lettered;
  maybe_settle(p);  // waits for outputs still in the sink, if any
}

void Pipeline::settle(Pending& p, Settled how) {
  Partition& part = *p.partition;
  const core::RecordView v = p.record.view();
  if (settled_hook_) {
    settled_hook_(v, how, how == Settled::dead_lettered ? std::string_view(p.reason) : "");
  }
  part.tracker.settle(v.offset);
  if (part.tracker.commit_position() != part.stored) {
    part.dirty = true;
  }
  stats_.inflight_records -= 1;
  count_bytes(p, -p.bytes);
  while (!part.order.empty() && part.order.front() == p.seq) {
    part.order.pop_front();
  }
  pending_.erase(p.seq);
  // Keep `order` compact when records settle out of order.
  while (!part.order.empty() && !pending_.contains(part.order.front())) {
    part.order.pop_front();
  }
}

void Pipeline::resend_due(Clock::time_point now) {
  if (!dl_retry_.empty()) {
    auto due = std::partition(dl_retry_.begin(), dl_retry_.end(),
                              [now](const auto& e) { return e.first > now; });
    for (auto it = due; it != dl_retry_.end(); ++it) {
      if (auto p = pending_.find(it->second); p != pending_.end()) {
        write_dead_letter(p->second);
      }
    }
    dl_retry_.erase(due, dl_retry_.end());
  }
  for (auto& [tp, part] : partitions_) {
    if (!part->blocked || now < part->retry_at) {
      continue;
    }
    // Re-send only once every earlier send of this partition has its verdict, so nothing of
    // this partition is in the sink while we re-send in offset order.
    const bool quiet = std::none_of(part->order.begin(), part->order.end(), [this](auto seq) {
      auto it = pending_.find(seq);
      return it != pending_.end() && (it->second.outstanding > 0 || it->second.transforming);
    });
    if (!quiet) {
      continue;
    }
    part->blocked = false;
    part->epoch = next_epoch_++;
    // A copy: re-running a transform may settle (and so unlink) records.
    resend_seqs_.assign(part->order.begin(), part->order.end());
    for (auto seq : resend_seqs_) {
      auto it = pending_.find(seq);
      if (it == pending_.end() || it->second.fate != Fate::delivering) {
        continue;
      }
      Pending& p = it->second;
      if (p.needs_transform && workers_) {
        // Transformed again on its worker; the partition stays held and is walked again once
        // the result is back (nothing behind it may go first).
        static_cast<void>(run_transform(p));
        part->blocked = true;
        part->retry_at = now;
        break;
      }
      if (p.needs_transform && !run_transform(p)) {
        if (part->blocked || fatal_) {
          break;  // still failing: nothing behind it may go first
        }
        continue;  // settled or dead-lettered this time
      }
      send_outputs(p);
    }
  }
}

void Pipeline::set_paused(Partition& part, bool paused) {
  if (part.paused == paused) {
    return;
  }
  part.paused = paused;
  const std::array<source::TopicPartition, 1> one{part.tp};
  if (paused) {
    deps_.source.pause(one);
  } else {
    deps_.source.resume(one);
  }
}

void Pipeline::count_bytes(Pending& p, std::int64_t delta) {
  p.bytes += delta;
  p.partition->bytes += delta;
  stats_.inflight_bytes += delta;
}

bool Pipeline::wants_pause(const Partition& part) const {
  return backpressure_ || part.blocked || part.over_share;
}

// The one place that pauses and resumes partitions while they are assigned (wants_pause), once
// per turn before the next poll.
void Pipeline::apply_backpressure() {
  // The sink's own copies (wrapped messages, request bodies) count against the same cap.
  stats_.sink_held_bytes = deps_.sink.held_bytes();
  const std::int64_t held = stats_.inflight_bytes + stats_.sink_held_bytes;
  const bool over =
      held >= cfg_.max_inflight_bytes || stats_.inflight_records >= cfg_.max_inflight_records;
  const bool under =
      held < cfg_.max_inflight_bytes / 2 && stats_.inflight_records < cfg_.max_inflight_records / 2;
  if (!backpressure_ && over) {
    backpressure_ = true;
    spdlog::info(
        "in-flight cap reached ({} records, {} bytes, {} of them in the sink): pausing "
        "consumption",
        stats_.inflight_records, held, stats_.sink_held_bytes);
  } else if (backpressure_ && under) {
    backpressure_ = false;
  }
  // Fair share: librdkafka hands out a partition's read-ahead in runs of thousands of records,
  // so one or two partitions filled the whole cap while the others waited with nothing in the
  // sink (1M backlog, 6 partitions, 2 s Platform: 2 requests in flight of 6 possible). Once the
  // bridge holds half the cap, a partition holding more than cap / partitions pauses until it is
  // under half of that; the others go on up to the cap. The sink's bytes are attributed in
  // proportion to the pipeline's. Below half the cap nothing is paused for its share: every pause
  // drops the partition's read-ahead, and librdkafka 2.0 then waits a second before fetching
  // again when its queue is full (fast Platform, 300k backlog: 56k events/s with this rule,
  // 36k when shares apply from a quarter of the cap, 15k when they always apply).
  const auto n = static_cast<std::int64_t>(partitions_.size());
  const bool contended = held >= cfg_.max_inflight_bytes / 2;
  const double scale = stats_.inflight_bytes > 0
                           ? static_cast<double>(held) / static_cast<double>(stats_.inflight_bytes)
                           : 1.0;
  const double share = static_cast<double>(cfg_.max_inflight_bytes) / static_cast<double>(n);
  for (auto& [tp, part] : partitions_) {
    const double mine = static_cast<double>(part->bytes) * scale;
    if (n < 2) {
      part->over_share = false;
    } else if (!part->over_share && contended && mine >= share) {
      part->over_share = true;
    } else if (part->over_share && mine < share / 2) {
      part->over_share = false;
    }
    set_paused(*part, wants_pause(*part));
  }
}

void Pipeline::store_positions() {
  for (auto& [tp, part] : partitions_) {
    if (!part->dirty) {
      continue;
    }
    part->dirty = false;
    if (auto pos = part->tracker.commit_position(); pos && pos != part->stored) {
      deps_.source.store(part->tp, *pos);
      part->stored = pos;
    }
  }
}

void Pipeline::release_free_memory() {
#ifdef __GLIBC__
  // Backpressure pauses and resumes partitions, and librdkafka drops and refetches a paused
  // partition's read-ahead: freed chunks pile up in malloc's heaps as RSS. Hand them back once
  // a second (a few ms at most).
  malloc_trim(0);
#endif
}

void Pipeline::publish_gauges() {
  int paused = 0;
  for (const auto& [tp, part] : partitions_) {
    paused += part->paused ? 1 : 0;
  }
  stats_.paused_partitions = paused;
  stats_.assigned_partitions = static_cast<int>(partitions_.size());
  deps_.metrics.paused_partitions.Set(paused);
  deps_.metrics.assigned_partitions.Set(static_cast<double>(partitions_.size()));
  deps_.metrics.inflight_records.Set(static_cast<double>(stats_.inflight_records));
  deps_.metrics.inflight_bytes.Set(static_cast<double>(stats_.inflight_bytes));
}

void Pipeline::on_assigned(std::span<const source::TopicPartition> partitions) {
  for (const auto& tp : partitions) {
    auto part = std::make_unique<Partition>();
    part->epoch = next_epoch_++;
    part->tp = tp;
    if (workers_) {
      // The worker with the fewest partitions: with no more partitions than workers, each has
      // its own.
      const auto least = std::min_element(worker_partitions_.begin(), worker_partitions_.end());
      part->worker = static_cast<std::size_t>(least - worker_partitions_.begin());
      ++*least;
    }
    if (auto old = partitions_.find(tp); old != partitions_.end() && workers_) {
      --worker_partitions_[old->second->worker];  // assigned again without a revoke
    }
    // A new assignment starts unpaused at the source; reapply backpressure on the next turn.
    partitions_[tp] = std::move(part);
  }
  if (backpressure_) {
    for (const auto& tp : partitions) {
      set_paused(*partitions_[tp], true);
    }
  }
  assigned_.store(static_cast<int>(partitions_.size()), std::memory_order_relaxed);
  publish_gauges();
}

void Pipeline::on_revoked(std::span<const source::TopicPartition> partitions, bool lost) {
  if (workers_ && transforms_out_ > 0) {
    // No worker may still read a record that is about to be dropped: let them finish (a few
    // microseconds per record) and take their results in.
    workers_->wait_idle();
    collect_transforms();
  }
  // The sink stops sending these partitions before anything is committed: its queued messages
  // of theirs are dropped and its requests in flight for them waited for (bounded), so the next
  // owner's copies cannot be overtaken by ours. Their verdicts are then collected, so what was
  // delivered meanwhile is committed.
  std::vector<sink::PartitionRef> refs;
  refs.reserve(partitions.size());
  for (const auto& tp : partitions) {
    if (partitions_.contains(tp)) {
      refs.push_back({tp.topic, tp.partition});
    }
  }
  if (!refs.empty()) {
    flush_sends();  // the sink must see everything before it can drop it
    const auto wait = lost || shutting_down_
                          ? std::chrono::milliseconds(0)
                          : std::min<std::chrono::milliseconds>(cfg_.drain_timeout, kMaxRevokeWait);
    if (!deps_.sink.release(refs, wait) && wait.count() > 0) {
      spdlog::warn(
          "revoke: the sink still had requests in flight for {} partition(s) after {} ms; "
          "the next owner may see duplicates",
          refs.size(), wait.count());
    }
    if (!lost && !shutting_down_) {
      collect_verdicts(std::chrono::milliseconds(0));
    }
  }
  for (const auto& tp : partitions) {
    auto it = partitions_.find(tp);
    if (it == partitions_.end()) {
      continue;
    }
    Partition& part = *it->second;
    // librdkafka keeps a partition's pause flag across unassign and reassign: resume it now, or
    // it would stay paused forever if it comes back to this instance.
    set_paused(part, false);
    if (!lost) {
      if (auto pos = part.tracker.commit_position(); pos && pos != part.stored) {
        deps_.source.store(part.tp, *pos);
      }
    }
    // Undelivered work of this partition is dropped: the next owner starts from the committed
    // position and redelivers it (bounded duplicates, nothing lost).
    const Unsettled dropped = unsettled(part);
    for (auto seq : part.order) {
      if (auto p = pending_.find(seq); p != pending_.end()) {
        if (p->second.dead_letter_attempts > 0 && p->second.fate != Fate::dead_lettered) {
          dead_letters_waiting_.fetch_sub(1, std::memory_order_relaxed);
        }
        stats_.inflight_records -= 1;
        count_bytes(p->second, -p->second.bytes);
        pending_.erase(p);
      }
    }
    std::erase_if(dl_retry_, [this](const auto& e) { return !pending_.contains(e.second); });
    if (workers_) {
      --worker_partitions_[part.worker];
    }
    if (dropped.count > 0 && !shutting_down_) {
      spdlog::info(
          "{}/{}: {} record(s) not settled on {}; the partition's next owner redelivers "
          "them from {}",
          tp.topic, tp.partition, dropped.count, lost ? "loss" : "revoke",
          lost ? std::string("the group's last committed offset")
               : fmt::format("offset {}", dropped.redeliver_from));
    }
    partitions_.erase(it);
  }
  assigned_.store(static_cast<int>(partitions_.size()), std::memory_order_relaxed);
  publish_gauges();
}

}  // namespace bridge::pipeline

#include "bridge/redrive/letter_source.h"

#include <memory>

namespace bridge::redrive {
namespace {

// What a record handed to the pipeline owns: the letter itself (its bytes back every view) and
// what it says about its first life.
struct Held {
  explicit Held(source::Record l) : letter(std::move(l)) {}
  source::Record letter;
  core::Redrive redrive;
};

void release_held(void* held) {
  delete static_cast<Held*>(held);
}

}  // namespace

LetterSource::LetterSource(source::Source& letters, Selection selection,
                           std::map<std::int32_t, Range> ranges, bool dry_run)
    : letters_(letters), selection_(std::move(selection)), dry_run_(dry_run) {
  for (const auto& [partition, range] : ranges) {
    partitions_[partition] = Progress{range, range.start, range.start >= range.end};
  }
}

core::Result<void> LetterSource::poll(std::vector<source::Record>& out, std::size_t max,
                                      std::chrono::milliseconds timeout) {
  batch_.clear();
  auto result = letters_.poll(batch_, max, timeout);
  for (auto& letter : batch_) {
    consider(std::move(letter), out);
  }
  batch_.clear();
  return result;
}

void LetterSource::consider(source::Record letter, std::vector<source::Record>& out) {
  const core::RecordView v = letter.view();
  auto it = partitions_.find(v.partition);
  if (it == partitions_.end()) {
    return;  // a partition added after the run started: its letters are for the next run
  }
  Progress& part = it->second;
  if (part.done || limit_reached_ || v.offset >= part.range.end) {
    part.done = part.done || v.offset >= part.range.end;
    return;  // left unread: not handed on, so the committed offset stays before it
  }
  const LetterHeaders headers = read_headers(v.headers);
  const Choice choice = choose(headers, v.timestamp_ms, selection_);
  if (choice == Choice::after_until) {
    part.done = true;
    return;
  }
  part.next = v.offset + 1;
  if (part.next >= part.range.end) {
    part.done = true;
  }

  auto held = std::make_unique<Held>(std::move(letter));
  core::Redrive& r = held->redrive;
  r.topic = headers.topic;
  r.source = headers.source;
  r.reason = headers.reason;
  r.attempts = headers.attempts;
  r.pass_over = choice != Choice::redrive;
  r.redrivable = choice != Choice::not_redrivable;
  if (choice == Choice::redrive) {
    ++taken_;
    limit_reached_ = selection_.limit && taken_ >= *selection_.limit;
  }
  // The record as it was before it became a letter: the same bytes, its own headers only.
  core::RecordView view = held->letter.view();
  std::vector<core::Header> original;
  original.reserve(view.headers.size());
  for (const auto& h : view.headers) {
    if (!is_bridge_header(h.name)) {
      original.push_back(h);
    }
  }
  view.headers = {};
  view.redrive = &held->redrive;
  Held* owner = held.release();
  out.emplace_back(view, std::move(original), owner, &release_held);
}

void LetterSource::on_assigned(std::span<const source::TopicPartition> partitions) {
  for (const auto& tp : partitions) {
    if (auto it = partitions_.find(tp.partition); it != partitions_.end()) {
      Progress& part = it->second;
      part.next = part.range.start;
      part.done = part.range.start >= part.range.end;
    }
  }
  if (listener_ != nullptr) {
    listener_->on_assigned(partitions);
  }
}

void LetterSource::on_revoked(std::span<const source::TopicPartition> partitions, bool lost) {
  if (listener_ != nullptr) {
    listener_->on_revoked(partitions, lost);
  }
}

void LetterSource::store(const source::TopicPartition& tp, std::int64_t next_offset) {
  if (!dry_run_) {
    letters_.store(tp, next_offset);
  }
}

core::Result<void> LetterSource::commit(bool synchronous) {
  if (dry_run_) {
    return {};
  }
  return letters_.commit(synchronous);
}

bool LetterSource::done() const {
  if (limit_reached_) {
    return true;
  }
  for (const auto& [partition, part] : partitions_) {
    if (!part.done) {
      return false;
    }
  }
  return true;
}

std::int64_t LetterSource::remaining() const {
  std::int64_t n = 0;
  for (const auto& [partition, part] : partitions_) {
    if (!part.done) {
      n += part.range.end - part.next;
    }
  }
  return n;
}

}  // namespace bridge::redrive

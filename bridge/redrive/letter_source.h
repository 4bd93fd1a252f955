#pragma once
// The dead-letter topic as a source::Source for the pipeline. Wraps the consumer of the
// dead-letter topic and turns each letter back into the record it was made from: its original
// key, value and headers (capillary-bridge.* removed), with core::Redrive saying where it first
// came from, so routes match the original topic and a letter written for it again counts the
// attempt. Letters the selection does not take are handed on marked pass_over (the pipeline
// settles them untouched), so the group's committed offset moves past them.
//
// A run reads each partition from where the group stands up to the end it had when the run
// started (letters written during the run, its own included, are left for the next run); letters
// written after --until end their partition early, unread. done() says when every partition got
// there (or --limit letters were taken).
//
// Threading: the pipeline thread, like the source it wraps.

#include <cstdint>
#include <map>
#include <vector>

#include "bridge/redrive/selection.h"
#include "bridge/source/source.h"

namespace bridge::redrive {

struct Range {
  std::int64_t start = 0;  // where the group resumes
  std::int64_t end = 0;    // the partition's end when the run started
};

class LetterSource final : public source::Source, private source::RebalanceListener {
 public:
  // `dry_run`: store() and commit() do nothing (no offset moves).
  LetterSource(source::Source& letters, Selection selection, std::map<std::int32_t, Range> ranges,
               bool dry_run);

  // Rebalances pass through to `listener` (the pipeline); an assigned partition is read again
  // from its committed offset, so its progress starts afresh.
  void set_listener(source::RebalanceListener* listener) override {
    listener_ = listener;
    letters_.set_listener(this);
  }
  [[nodiscard]] core::Result<void> poll(std::vector<source::Record>& out, std::size_t max,
                                        std::chrono::milliseconds timeout) override;
  void pause(std::span<const source::TopicPartition> partitions) override {
    letters_.pause(partitions);
  }
  void resume(std::span<const source::TopicPartition> partitions) override {
    letters_.resume(partitions);
  }
  void store(const source::TopicPartition& tp, std::int64_t next_offset) override;
  [[nodiscard]] core::Result<void> commit(bool synchronous) override;
  void close() override { letters_.close(); }

  // Every partition read to its end (or to --until), or --limit letters taken.
  [[nodiscard]] bool done() const;
  // Letters within the run's ranges not read yet (for progress lines).
  [[nodiscard]] std::int64_t remaining() const;
  [[nodiscard]] std::uint64_t taken() const { return taken_; }

 private:
  struct Progress {
    Range range;
    std::int64_t next = 0;  // one past the last letter read
    bool done = false;
  };
  void consider(source::Record letter, std::vector<source::Record>& out);
  void on_assigned(std::span<const source::TopicPartition> partitions) override;
  void on_revoked(std::span<const source::TopicPartition> partitions, bool lost) override;

  source::Source& letters_;
  source::RebalanceListener* listener_ = nullptr;
  Selection selection_;
  std::map<std::int32_t, Progress> partitions_;
  bool dry_run_;
  std::uint64_t taken_ = 0;  // letters selected for redrive
  bool limit_reached_ = false;
  std::vector<source::Record> batch_;
};

}  // namespace bridge::redrive

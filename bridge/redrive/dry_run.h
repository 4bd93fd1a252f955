#pragma once
// The sink and dead-letter writer of `redrive --dry-run`: the sink takes every message without
// sending it (the letter "would be sent"), the writer writes nothing (it "would fail again").
// Both answer at once, so the pipeline settles each letter and the tally shows what would happen.

#include <vector>

#include "bridge/deadletter/writer.h"
#include "bridge/sink/sink.h"

namespace bridge::redrive {

class DrySink final : public sink::Sink {
 public:
  [[nodiscard]] std::string_view name() const override { return "dry-run"; }
  void send(std::span<const sink::Message> messages) override;
  void poll(std::vector<sink::Outcome>& out, std::chrono::milliseconds wait) override;
  [[nodiscard]] bool flush(std::chrono::milliseconds /*deadline*/) override { return true; }
  [[nodiscard]] bool ready() const override { return true; }
  [[nodiscard]] bool release(std::span<const sink::PartitionRef> /*partitions*/,
                             std::chrono::milliseconds /*deadline*/) override {
    return true;
  }

 private:
  std::vector<std::uint64_t> sent_;
};

class DryWriter final : public deadletter::Writer {
 public:
  [[nodiscard]] std::string_view topic() const override { return "dry-run"; }
  void write(const deadletter::Letter& letter) override { tickets_.push_back(letter.ticket); }
  void poll(std::vector<deadletter::WriteResult>& out, std::chrono::milliseconds wait) override;
  [[nodiscard]] bool flush(std::chrono::milliseconds /*deadline*/) override { return true; }

 private:
  std::vector<std::uint64_t> tickets_;
};

}  // namespace bridge::redrive

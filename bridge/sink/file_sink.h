#pragma once
// NDJSON to a file (appended) or to stdout: one output body per line. A message is delivered
// once write(2) returned for it (and fsync, when configured), so a SIGKILL loses nothing that was
// acknowledged. Synchronous: verdicts are ready when send() returns.

#include <atomic>
#include <memory>
#include <string>

#include "bridge/core/result.h"
#include "bridge/sink/sink.h"

namespace bridge::sink {

class FileSink final : public Sink {
 public:
  // Opens `path` for append ("-" means stdout). Startup code: errors are returned, not thrown.
  static core::Result<std::unique_ptr<FileSink>> open(const std::string& path, bool fsync);
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  [[nodiscard]] std::string_view name() const override { return name_; }
  void send(std::span<const Message> messages) override;
  void poll(std::vector<Outcome>& out, std::chrono::milliseconds wait) override;
  [[nodiscard]] bool flush(std::chrono::milliseconds deadline) override;
  // Read by the metrics server's threads (/readyz).
  [[nodiscard]] bool ready() const override { return healthy_.load(std::memory_order_relaxed); }
  // Synchronous: nothing of a released partition is ever in flight.
  [[nodiscard]] bool release(std::span<const sink::PartitionRef> /*partitions*/,
                             std::chrono::milliseconds /*deadline*/) override {
    return true;
  }

 private:
  FileSink(int fd, bool owns_fd, bool fsync, std::string name);
  [[nodiscard]] bool write_all(std::string_view bytes);

  int fd_;
  bool owns_fd_;
  bool fsync_;
  std::atomic<bool> healthy_{true};
  std::string name_;
  std::string buffer_;  // one write per send() batch; reused
  std::vector<Outcome> ready_;
};

}  // namespace bridge::sink

#pragma once
// What the chaos suite watches besides the ledger: the bridge processes' memory (sampled every
// second), the emulator's accepted messages (read incrementally), and the exit statuses seen.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "tests/harness/process.h"

namespace bridge::chaos {

// Samples, every `interval`, /proc/<pid>/status of every child of this process whose name is
// `capillary-bridge` (each instance and each restart), and keeps the highest VmHWM / VmRSS.
class RssSampler {
 public:
  explicit RssSampler(std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~RssSampler();  // stops the thread
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  // Highest peak (VmHWM, or VmRSS where higher) seen in any bridge process, in KiB.
  [[nodiscard]] std::uint64_t max_kib() const { return max_kib_.load(); }
  [[nodiscard]] std::uint64_t samples() const { return samples_.load(); }
  void sample();  // one sample now (also called by the thread)

 private:
  std::chrono::milliseconds interval_;
  std::atomic<std::uint64_t> max_kib_{0};
  std::atomic<std::uint64_t> samples_{0};
  std::mutex mutex_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Reads GET /emulator/messages?from=N: each call hands the lines accepted since the last call
// (in arrival order) to `each`, streaming, so a million messages never sit in one string.
class AcceptedFeed {
 public:
  explicit AcceptedFeed(std::function<void(std::string_view)> each) : each_(std::move(each)) {}
  // False when the emulator did not answer 200 (lines read before a broken answer still count).
  bool poll(std::uint16_t port);
  // The emulator was restarted: it starts counting from zero again.
  void new_life() { read_ = 0; }
  [[nodiscard]] std::size_t read_in_life() const { return read_; }

 private:
  std::function<void(std::string_view)> each_;
  std::size_t read_ = 0;
};

// Exit statuses seen, in a compact form: "0:2 KILL:10" (exit code or signal name: count).
class ExitTally {
 public:
  void add(const harness::ExitStatus& status);
  void add(const std::string& what) { ++counts_[what]; }
  [[nodiscard]] std::string str() const;
  [[nodiscard]] const std::map<std::string, int>& counts() const { return counts_; }

 private:
  std::map<std::string, int> counts_;
};

}  // namespace bridge::chaos

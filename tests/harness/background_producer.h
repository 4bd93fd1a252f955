#pragma once
// Produces events to a topic from a background thread while a test does other things (kills,
// restarts, rebalances), so that those happen while the bridge is consuming. Ids are
// "<prefix><n>" with n = 0, 1, 2, ...; keys spread them over customers (and so partitions).

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness/kafka_broker.h"

namespace bridge::harness {

struct BackgroundProducerOptions {
  std::string id_prefix = "bg-";
  int batch = 500;                         // events per produce() call
  std::chrono::milliseconds interval{50};  // pause between batches
  int limit = 0;                           // stop after this many (0 = until stop())
  int customers = 499;                     // distinct keys
};

class BackgroundProducer {
 public:
  BackgroundProducer(KafkaBroker& broker, std::string topic, BackgroundProducerOptions options);
  ~BackgroundProducer();  // stops and joins
  BackgroundProducer(const BackgroundProducer&) = delete;
  BackgroundProducer& operator=(const BackgroundProducer&) = delete;

  void stop();
  // Whether the producer reached its limit (or failed).
  [[nodiscard]] bool finished() const { return finished_.load(); }
  // Events acknowledged by the broker so far.
  [[nodiscard]] int produced() const { return produced_.load(); }
  // Why producing stopped early ("" when it did not). Valid after stop() or finished().
  [[nodiscard]] const std::string& error() const { return error_; }
  // Every acknowledged id. Valid after stop() or finished().
  [[nodiscard]] std::vector<std::string> ids() const;
  [[nodiscard]] std::string id(int n) const;

 private:
  void loop();

  KafkaBroker& broker_;
  std::string topic_;
  BackgroundProducerOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<int> produced_{0};
  std::string error_;
  std::thread thread_;
};

}  // namespace bridge::harness

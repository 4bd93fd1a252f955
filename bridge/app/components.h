#pragma once
// Builds everything a pipeline needs from a validated config. Shared by `run` and `dev`.

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <optional>

#include "bridge/config/config.h"
#include "bridge/deadletter/writer.h"
#include "bridge/kafka/kafka_source.h"
#include "bridge/metrics/metrics.h"
#include "bridge/sink/sink.h"
#include "transforms/api/router.h"

namespace bridge::app {

struct Validated {
  config::Config config;
  std::shared_ptr<const transforms::RouterPlan> plan;
};

// Loads the file (or text) and validates routes against the registry of built-in transforms.
// Prints every problem to stderr and returns nullopt when there is any.
std::optional<Validated> load_and_validate(const config::Loaded& loaded);

struct Components {
  std::unique_ptr<kafka::KafkaSource> source;
  std::unique_ptr<sink::Sink> sink;
  std::unique_ptr<deadletter::Writer> dead_letters;
};

// Creates the Kafka consumer, the configured sink and the dead-letter producer.
core::Result<Components> make_components(const config::Config& cfg, metrics::Metrics& metrics);

void init_logging(const config::LogConfig& cfg);

// Blocks SIGINT/SIGTERM in the calling thread; call before any thread (librdkafka's included)
// is created so that only StopSignalWatcher's thread receives them.
void block_stop_signals();

// Waits for SIGINT/SIGTERM on its own thread and calls `on_stop` once. Destruction ends the
// thread whether or not a signal came.
class StopSignalWatcher {
 public:
  explicit StopSignalWatcher(std::function<void()> on_stop);
  ~StopSignalWatcher();
  StopSignalWatcher(const StopSignalWatcher&) = delete;
  StopSignalWatcher& operator=(const StopSignalWatcher&) = delete;

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace bridge::app

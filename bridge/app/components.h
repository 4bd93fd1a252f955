#pragma once
// Builds everything a pipeline needs from a validated config. Shared by `run` and `dev`.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>

#include "bridge/config/config.h"
#include "bridge/deadletter/writer.h"
#include "bridge/kafka/kafka_source.h"
#include "bridge/metrics/http_server.h"
#include "bridge/metrics/metrics.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/provision/setup.h"
#include "bridge/receiver/receiver.h"
#include "bridge/sink/sink.h"
#include "transforms/api/router.h"

namespace bridge::app {

struct Validated {
  config::Config config;
  std::shared_ptr<const transforms::RouterPlan> plan;
};

// What `run` and `receive` do first: block the stop signals, load and validate the file, set up
// logging and log "capillary-bridge <version> (<revision>) <what>". nullopt: the config is bad
// (every problem printed).
std::optional<Validated> start_command(const std::string& config_path, std::string_view what);

// Loads the file (or text) and validates routes against the registry of built-in transforms.
// Prints every problem to stderr and returns nullopt when there is any.
// `load_plugins` false: plugin routes are checked without loading their code (`validate
// --no-plugins`); the plan is then for checking only.
// The config is moved into the result (it holds the secrets, once); components built from it
// refer to it, so a Validated stays where it is while they run.
std::optional<Validated> load_and_validate(config::Loaded&& loaded, bool load_plugins = true);

struct Components {
  std::unique_ptr<kafka::KafkaSource> source;
  std::unique_ptr<sink::Sink> sink;
  std::unique_ptr<deadletter::Writer> dead_letters;
};

// The configured sink (file, stdout, kafka or platform).
core::Result<std::unique_ptr<sink::Sink>> make_sink(const config::Config& cfg,
                                                    metrics::Metrics& metrics);

// Creates the Kafka consumer, the configured sink and the dead-letter producer.
// `check_dead_letter_topic`: ask the cluster whether the dead-letter topic exists and how large
// a letter may be (off for the embedded mock cluster, which cannot answer).
core::Result<Components> make_components(const config::Config& cfg, metrics::Metrics& metrics,
                                         bool check_dead_letter_topic = true);

// Everything `run` and `dev` start: the components, the pipeline over them and the operator
// endpoint. Members are declared in dependency order (destroyed in reverse).
struct Service {
  metrics::Metrics metrics;
  Components parts;
  std::unique_ptr<pipeline::Pipeline> pipeline;
  std::unique_ptr<receiver::Receiver> receiver;  // with_receiver only
  std::unique_ptr<metrics::HttpServer> http;
};

// Builds and wires a Service from a validated config; the pipeline is not running yet.
// `with_receiver` also starts the webhook receiver (config `receiver:`); /readyz then needs both.
core::Result<std::unique_ptr<Service>> start_service(const Validated& validated,
                                                     bool check_dead_letter_topic = true,
                                                     bool with_receiver = false);

// The webhook receiver for `cfg.receiver` (receive_cmd.cc); an error when there is no block.
core::Result<std::unique_ptr<receiver::Receiver>> start_receiver(const config::Config& cfg,
                                                                 metrics::Metrics& metrics);

// Runs the service's pipeline until it stops by itself or SIGTERM/SIGINT asks it to drain (a
// receiver stops first: in-flight webhooks are answered, then the pipeline drains).
core::Result<void> run_until_stopped(Service& service);
// The same for a pipeline wired by hand (`redrive`): runs it until it stops or a signal drains
// it (stopping `receiver` first, when given), then flushes the dead-letter producer.
core::Result<void> run_until_stopped(pipeline::Pipeline& pipeline, deadletter::Writer& dead_letters,
                                     receiver::Receiver* receiver = nullptr);
// The exit status for what run_until_stopped returned (app.h: 0, 1 or 3).
int exit_status(const core::Result<void>& result);

void init_logging(const config::LogConfig& cfg);

// `platform setup` (not a dry run) for this config, with the sink's IMS credentials; the plan and
// progress go to `out` (platform_cmd.cc). `dev` runs it against its embedded emulator.
core::Result<provision::SetupResult> run_platform_setup(const Validated& validated,
                                                        std::ostream& out);
// `platform check` without the sample outputs, each line logged (problems as warnings); the
// number of problems. `run` calls it when platform.check_at_start is warn or fail.
core::Result<int> check_platform_at_start(const config::Config& cfg);

// Blocks SIGINT/SIGTERM/SIGHUP in the calling thread; call before any thread (librdkafka's
// included) is created so that only StopSignalWatcher's thread receives them.
void block_stop_signals();

// Waits for SIGINT/SIGTERM/SIGHUP (all three drain and stop) on its own thread and calls
// `on_stop` once. Destruction ends the
// thread whether or not a signal came.
class StopSignalWatcher {
 public:
  explicit StopSignalWatcher(std::function<void()> on_stop);
  ~StopSignalWatcher();
  StopSignalWatcher(const StopSignalWatcher&) = delete;
  StopSignalWatcher& operator=(const StopSignalWatcher&) = delete;

 private:
  void watch(const std::function<void()>& on_stop);
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace bridge::app

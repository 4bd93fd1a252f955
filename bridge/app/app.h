#pragma once
// The composition root: the only place that names concrete classes (KafkaSource, FileSink,
// KafkaSink, DeadLetterWriter, MockCluster) and wires them into a Pipeline. main.cc parses
// flags and calls one of these.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bridge::app {

// Exit codes: 0 ok (a clean drain included), 1 runtime failure, 2 bad configuration or usage
// (a missing dead-letter topic included), 3 stopped with records not delivered (the drain
// deadline passed; they are redelivered from the committed offsets).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitConfig = 2;
inline constexpr int kExitUndelivered = 3;

// `capillary-bridge run -c FILE`: the service, until SIGTERM/SIGINT.
// `capillary-bridge run -c FILE --with-receiver`: the webhook receiver in the same process
// (config `receiver:`); SIGTERM stops the receiver first, then drains the pipeline.
int run(const std::string& config_path, bool with_receiver);

// `capillary-bridge receive -c FILE`: the webhook receiver alone, until SIGTERM/SIGINT; exit 3
// when requests were still in flight at receiver.shutdown_timeout_ms.
int receive(const std::string& config_path);

// `capillary-bridge validate -c FILE`: prints every problem with file:line:column.
// `no_plugins`: plugin routes are checked (settings, path rules) without loading their code.
int validate(const std::string& config_path, bool no_plugins = false);

struct DevOptions {
  // Every message the embedded platform emulator accepted, as NDJSON; "-" for stdout at exit.
  std::string output = "capillary-bridge-dev.ndjson";
  std::string emulator_listen = "127.0.0.1:0";  // the embedded platform emulator
  std::string metrics_listen = "127.0.0.1:9464";
  std::string receiver_listen = "127.0.0.1:0";  // the webhook receiver (port 0: any free port)
  bool exit_when_done = false;  // stop once every seeded event is delivered or dead-lettered
  int partitions = 4;
};

struct TransformOptions {
  std::string config_path;
  std::string input_path;  // NDJSON events; empty or "-" for stdin
  std::string topic;       // topic the routes see; default: the first of kafka.topics
};

// `capillary-bridge transform -c FILE [INPUT]`: one Platform streaming message per output line
// on stdout, one JSON line per rejected event on stderr. Exit 0 unless the config is bad.
int transform(const TransformOptions& options);

struct PlatformOptions {
  std::string command;  // setup | check | teardown
  std::string config_path;
  bool dry_run = false;  // setup: print the plan only
  std::string output;    // setup: write the config fragment here instead of stdout
  bool yes = false;      // teardown: really delete
};

// `capillary-bridge platform setup|check|teardown -c FILE`: Platform's control plane from the
// config (bridge/provision/setup.h, check.h). Exit 0 ok, 1 Platform failed or refused or check
// found problems, 2 config or conflict.
int platform(const PlatformOptions& options);

struct RedriveOptions {
  std::string config_path;
  std::vector<std::string> reasons;  // empty: every reason
  std::string since;                 // parse_time() syntax; empty: no bound
  std::string until;
  std::string topic;           // the dead-letter topic; default dead_letter.topic
  std::string group;           // default <kafka.group_id>.redrive
  std::string metrics_listen;  // default metrics.listen
  bool dry_run = false;
  std::uint64_t limit = 0;  // 0: no limit
};

// `capillary-bridge redrive -c FILE`: dead letters back through the current routes and sink
// (bridge/redrive). Prints a summary table on stdout. Exit 0 when every letter up to the end the
// topic had at the start was settled (delivered, dead-lettered again or passed over), 1 runtime
// failure, 2 bad config or flags, a missing topic, 3 stopped before the end.
int redrive(const RedriveOptions& options);

// `capillary-bridge dev`: embedded broker, seeded sample events, the real pipeline.
int dev(const DevOptions& options);

}  // namespace bridge::app

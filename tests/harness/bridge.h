#pragma once
// Driving the real `capillary-bridge` binary from tests: a config file per test (real Kafka
// brokers, a file sink, metrics on a free port), the process itself, and readers for what it
// produces (the file sink's NDJSON, /metrics).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tests/harness/process.h"

namespace bridge::harness {

// A bridge config for one test. to_yaml() renders config/dev.yaml's shape with these values:
// one passthrough route (optionally limited to `route_events`) to a file sink.
struct BridgeConfig {
  // The subcommand and its flags, before `-c <config>`: {"receive"}, {"run", "--with-receiver"}.
  std::vector<std::string> command = {"run"};
  std::string brokers;
  std::string group_id = "capillary-bridge-it";
  std::string client_id = "capillary-bridge-it";
  std::vector<std::string> topics;
  std::string dlq_topic;
  std::string sink_path;
  std::string metrics_listen;             // "" = 127.0.0.1:<a free port>, chosen by BridgeProcess
  std::vector<std::string> route_events;  // empty = every event name goes to passthrough
  // When set: replaces the generated `targets:` and `routes:` sections (verbatim YAML).
  std::string targets_and_routes_yaml;
  int commit_interval_ms = 200;
  int session_timeout_ms = 6000;  // the broker's minimum: a SIGKILLed member expires quickly
  int drain_timeout_ms = 15000;
  std::string log_level = "info";
  std::string extra_yaml;  // appended verbatim (extra top-level sections)
  // When set: replaces the generated file `sink:` section (verbatim YAML, e.g.
  // PlatformSinkSettings::to_yaml() from tests/harness/emulator.h).
  std::string sink_yaml;
  // Extra `pipeline:` keys (e.g. {"max_event_bytes", "4MiB"}), rendered after drain_timeout_ms.
  std::map<std::string, std::string> pipeline_settings;
  // `dead_letter.properties` (librdkafka producer properties), e.g. a small queue.
  std::map<std::string, std::string> dlq_properties;

  [[nodiscard]] std::string to_yaml() const;
};

// Double-quoted YAML scalar.
[[nodiscard]] std::string yaml_quote(std::string_view s);

// One `capillary-bridge run -c <config>` process, restartable. Its stdout and stderr are
// appended to <dir>/<name>.log across restarts. The destructor SIGKILLs a running process.
class BridgeProcess {
 public:
  BridgeProcess(const TempDir& dir, std::string name, BridgeConfig config);

  void start();
  void kill(int sig);
  // SIGTERM, then waits; nullopt when it did not exit within `timeout` (it is SIGKILLed then).
  std::optional<ExitStatus> stop(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  std::optional<ExitStatus> wait(std::chrono::milliseconds timeout);
  [[nodiscard]] bool running();

  [[nodiscard]] const BridgeConfig& config() const { return config_; }
  [[nodiscard]] const std::string& config_path() const { return config_path_; }
  [[nodiscard]] const std::string& log_path() const { return log_path_; }
  [[nodiscard]] std::uint16_t metrics_port() const { return metrics_port_; }
  // The running process's pid; -1 when not started.
  [[nodiscard]] pid_t pid() const { return process_ ? process_->pid() : -1; }
  [[nodiscard]] std::string log_tail(std::size_t lines = 60) const;

 private:
  std::string name_;
  BridgeConfig config_;
  std::string config_path_;
  std::string log_path_;
  std::uint16_t metrics_port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// A Capillary E1 (flat envelope) transactionAdded event with the given id.
[[nodiscard]] std::string make_event(std::string_view event_id,
                                     std::string_view event_name = "transactionAdded");

// The value of the top-level "eventId" string in a JSON line produced by make_event (a plain
// text search, so it also works on lines that are not valid JSON). "" when absent.
[[nodiscard]] std::string extract_event_id(std::string_view line);

// Complete lines of an NDJSON file (a trailing line without '\n' is left out and counted in
// `partial`, when given).
[[nodiscard]] std::vector<std::string> read_ndjson(const std::string& path,
                                                   std::size_t* partial = nullptr);

// Follows a growing NDJSON file: each poll() returns the complete lines written since the last.
class NdjsonFollower {
 public:
  explicit NdjsonFollower(std::string path) : path_(std::move(path)) {}
  // Appends new complete lines to `out`; returns how many.
  std::size_t poll(std::vector<std::string>& out);

 private:
  std::string path_;
  std::uint64_t offset_ = 0;
};

// Counts deliveries per event id (at-least-once bookkeeping: unique ids, duplicates, lines that
// carry no id at all).
class DeliveryCounter {
 public:
  void add(std::string_view line);
  void add_all(const std::vector<std::string>& lines) {
    for (const auto& l : lines) {
      add(l);
    }
  }
  [[nodiscard]] bool seen(const std::string& id) const { return counts_.contains(id); }
  [[nodiscard]] std::size_t unique() const { return counts_.size(); }
  [[nodiscard]] std::size_t lines() const { return lines_; }
  [[nodiscard]] std::size_t duplicates() const { return lines_ - without_id_ - counts_.size(); }
  [[nodiscard]] std::size_t without_id() const { return without_id_; }
  // Up to `max` of `expected` that were never seen, for failure messages.
  [[nodiscard]] std::vector<std::string> missing(const std::vector<std::string>& expected,
                                                 std::size_t max = 10) const;
  [[nodiscard]] std::size_t missing_count(const std::vector<std::string>& expected) const;

 private:
  std::unordered_map<std::string, std::uint32_t> counts_;
  std::size_t lines_ = 0;
  std::size_t without_id_ = 0;
};

// `capillary-bridge transform -c <config> <input>`, its output files in `dir`: the streaming
// messages it prints (stdout lines) and its rejects (stderr lines). `env` is added to the
// environment. Throws when it does not exit 0 within 60 s.
struct TransformRun {
  std::vector<std::string> messages;
  std::vector<std::string> rejects;
};
[[nodiscard]] TransformRun run_transform(const TempDir& dir, const std::string& config,
                                         const std::string& input,
                                         const std::map<std::string, std::string>& env = {});
// A streaming message from `"xdmEntity":` on: the part that does not depend on Platform's ids
// (the header and xdmMeta carry the schema ref). The whole message when it has no entity.
[[nodiscard]] std::string streaming_entity(const std::string& message);

struct HttpResponse {
  int status = 0;  // 0 = no answer (connection refused, timeout, garbage)
  std::string body;
};
// A minimal HTTP/1.0 GET over a plain socket.
[[nodiscard]] HttpResponse http_get(const std::string& host, std::uint16_t port,
                                    const std::string& path,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5));
// A minimal HTTP/1.0 request over a plain socket; a non-empty `body` is sent with
// Content-Length and `content_type`.
[[nodiscard]] HttpResponse http_request(const std::string& method, const std::string& host,
                                        std::uint16_t port, const std::string& path,
                                        const std::string& body = {},
                                        std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                        const std::string& content_type = "application/json");

// Sum over every series of metric `name` in a Prometheus text exposition (labels ignored);
// nullopt when the metric has no series.
[[nodiscard]] std::optional<double> metric_sum(std::string_view exposition, std::string_view name);
// The same over the series whose labels include every `labels` pair (e.g. {{"status", "413"}}).
[[nodiscard]] std::optional<double> metric_sum(
    std::string_view exposition, std::string_view name,
    const std::vector<std::pair<std::string, std::string>>& labels);
// The cumulative buckets of histogram `name` (series `<name>_bucket`, labels other than `le`
// ignored): (upper bound, count) in exposition order; +Inf is infinity.
[[nodiscard]] std::vector<std::pair<double, double>> histogram_buckets(std::string_view exposition,
                                                                       std::string_view name);

}  // namespace bridge::harness

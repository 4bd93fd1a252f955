#pragma once
// Driving the real `platform-emulator` binary (bridge/emulator) from tests: a child process on a
// free loopback port that can be killed and restarted on the same port, its control API
// (/emulator/stats, /emulator/messages, /emulator/faults, ...), and the pieces a bridge config
// needs to talk to it: the `sink: {type: platform}` section and Capillary events the catalogue
// turns into ExperienceEvents with a deterministic `_id`.
//
// Test code: failures to start or to reach the control API throw std::runtime_error (with the
// emulator's log tail), which gtest turns into a test failure.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/harness/bridge.h"
#include "tests/harness/process.h"

namespace bridge::harness {

// ${BRIDGE_BINARY_DIR}/bridge/emulator/platform-emulator
[[nodiscard]] std::string emulator_binary();

// GET /emulator/stats, parsed.
struct EmulatorStats {
  std::uint64_t requests = 0;              // collection requests received
  std::map<int, std::uint64_t> by_status;  // answered collection requests per HTTP status
  std::uint64_t resets = 0;
  std::uint64_t hangs = 0;
  std::uint64_t messages_accepted = 0;
  std::uint64_t messages_rejected = 0;
  std::uint64_t messages_failed_retryable = 0;
  std::uint64_t unique_ids = 0;  // distinct xdmEntity._id among accepted messages
  std::uint64_t accepted_without_id = 0;
  std::uint64_t tokens_issued = 0;
  std::uint64_t token_requests_refused = 0;
  std::uint64_t auth_failures = 0;
  std::uint64_t max_request_bytes_seen = 0;
  std::uint64_t bytes_received = 0;

  [[nodiscard]] std::uint64_t status(int code) const {
    const auto it = by_status.find(code);
    return it == by_status.end() ? 0 : it->second;
  }
};
// Throws std::runtime_error when `json` is not the stats shape.
[[nodiscard]] EmulatorStats parse_emulator_stats(std::string_view json);

struct EmulatorOptions {
  std::string name = "emulator";  // log file <dir>/<name>.log
  std::string client_id = "capillary-bridge-it";
  std::string client_secret = "it-secret";
  // Further flags, e.g. {"--token-ttl", "10"} or {"--fail", "503=0.2"}.
  std::vector<std::string> args = {};
};

// One `platform-emulator` process, restartable on the port of its first start. stdout and stderr
// are appended to <dir>/<name>.log across restarts. The destructor SIGKILLs a running process.
class EmulatorProcess {
 public:
  EmulatorProcess(const TempDir& dir, EmulatorOptions options);

  // First start: a free port picked by the emulator itself (--listen 127.0.0.1:0, --port-file).
  // Later starts: the same port (retried for a few seconds while the old socket lingers).
  // Returns once /healthz answers.
  void start();
  void kill(int sig);
  // SIGTERM, then waits; nullopt when it did not exit within `timeout` (it is SIGKILLed then).
  std::optional<ExitStatus> stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::optional<ExitStatus> wait(std::chrono::milliseconds timeout);
  [[nodiscard]] bool running();

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string base_url() const;   // http://127.0.0.1:<port>
  [[nodiscard]] std::string inlet_url() const;  // base_url()/collection/<64 hex>
  [[nodiscard]] std::string token_url() const;  // base_url()/ims/token/v3
  [[nodiscard]] const EmulatorOptions& options() const { return options_; }
  [[nodiscard]] const std::string& log_path() const { return log_path_; }
  [[nodiscard]] std::string log_tail(std::size_t lines = 40) const;

  // Control API; each throws when the emulator does not answer 200.
  [[nodiscard]] EmulatorStats stats() const;
  // Replaces the fault set (JSON as PUT /emulator/faults takes it); "{}" clears every fault.
  void set_faults(const std::string& json) const;
  void clear_faults() const { set_faults("{}"); }
  void expire_tokens() const;
  void set_token_ttl(std::chrono::seconds ttl) const;
  void clear() const;  // forget accepted messages and stats
  // Every accepted message (one JSON document per element), in arrival order.
  [[nodiscard]] std::vector<std::string> messages() const;

 private:
  [[nodiscard]] HttpResponse control(const std::string& method, const std::string& path,
                                     const std::string& body = {}) const;

  const TempDir& dir_;
  EmulatorOptions options_;
  std::string log_path_;
  std::string port_file_;
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// The bridge's `sink: {type: platform}` section. Unset optionals are left out of the YAML, so
// the bridge's own defaults apply.
struct PlatformSinkSettings {
  std::string inlet_url;
  std::string token_url;
  std::string client_id = "capillary-bridge-it";
  std::string client_secret = "it-secret";
  bool authenticated = true;
  std::optional<std::int64_t> max_bytes;
  std::optional<std::int64_t> max_messages;
  std::optional<std::int64_t> linger_ms;
  std::optional<std::int64_t> concurrency;
  std::optional<std::int64_t> connect_timeout_ms;
  std::optional<std::int64_t> timeout_ms;
  std::optional<std::int64_t> retry_after_max_ms;
  std::optional<std::int64_t> requests_per_second;
  std::optional<std::int64_t> messages_per_second;
  std::optional<std::int64_t> ims_timeout_ms;

  [[nodiscard]] std::string to_yaml() const;  // "sink:\n  type: platform\n  ..."
};
// Settings pointing at `emulator` with its credentials.
[[nodiscard]] PlatformSinkSettings platform_sink_for(const EmulatorProcess& emulator);

// `targets:` and `routes:` for BridgeConfig::targets_and_routes_yaml: the Capillary catalogue
// on `topics`, ExperienceEvents to the target `events` (the platform sink's default inlet).
[[nodiscard]] std::string capillary_routes_yaml(const std::vector<std::string>& topics);

// A Capillary E1 transactionAdded event the catalogue maps to one ExperienceEvent whose `_id` is
// derived from `event_id` and whose `_acme.capillary.eventId` is `event_id` (so
// extract_event_id() finds it in the emulator's accepted messages). `line_items` line items with
// descriptions of `description_bytes` characters make it as large as a test needs (the
// ExperienceEvent is about as large as the event).
[[nodiscard]] std::string make_capillary_event(std::string_view event_id, std::uint64_t customer,
                                               std::size_t line_items = 0,
                                               std::size_t description_bytes = 0);

}  // namespace bridge::harness

#pragma once
// A local stand-in for Adobe IMS (token endpoint) and Platform streaming ingestion (DCS
// /collection endpoints), with fault injection for tests and benchmarks. Shapes follow
// docs/reference platform-streaming.md sections 1 and 2; see bridge/emulator/README.md.
//
// Threads: libmicrohttpd runs one thread per connection, so a delayed or held request never blocks
// another connection. Every public method is thread-safe and may be called while requests are in
// flight.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bridge/core/result.h"

namespace bridge::emulator {

// All default to "no fault". Rates are probabilities in [0, 1]; within a status map the statuses
// are drawn in ascending order from one uniform number, so rates adding up to 1 always fire.
struct Faults {
  std::map<int, double> fail_rate;  // whole-request failure probability per HTTP status, e.g.
                                    // {503: 0.2}; Platform-shaped error body
  std::optional<std::string> retry_after;  // Retry-After value sent with 429/503 ("2" or a date)
  std::chrono::milliseconds latency{0};    // added before every collection answer
  double hang_rate = 0;   // probability a collection request is never answered (held until the
                          // client gives up or the server stops)
  double reset_rate = 0;  // probability a collection request's connection is reset (TCP RST)
  std::map<int, double> message_fail_rate;  // per-message failure probability inside a 207
  std::chrono::milliseconds storm{0};       // when > 0: answer EVERY collection request with 429
                                            // (+Retry-After) until now + storm
  // A collection request whose body contains this text (non-empty) is answered 400 as a whole,
  // as Platform does for a batch it cannot read; the rest of the faults apply to other requests.
  std::string reject_containing;
  // A collection request whose body contains this text (non-empty) is never answered.
  std::string hang_containing;
  // When > 0: a proxy's body limit in front of Platform, lower than Options::max_request_bytes;
  // larger collection requests get 413 like any body over the limit.
  std::size_t body_limit_bytes = 0;
  // Control-plane (/data/...) failure probability per HTTP status, drawn like fail_rate: 429 with
  // the Adobe I/O gateway's body (+Retry-After when retry_after is set), others a problem body.
  // latency applies to control-plane answers too.
  std::map<int, double> control_fail_rate;
};

struct Options {
  std::string listen = "127.0.0.1:0";  // port 0 = pick a free port
  std::string client_id = "capillary-bridge-dev";
  std::string client_secret = "dev-secret";
  // When set, a message whose header.imsOrgId is present and differs gets a per-message 400.
  std::string ims_org_id;
  std::chrono::seconds token_ttl{86399};  // expires_in of issued tokens (v3: seconds)
  bool require_auth = true;  // collection endpoints need a valid, unexpired token issued here
  std::size_t max_request_bytes = 1048576;  // larger bodies -> 413
  bool keep_messages = true;                // store accepted message bytes (false: count only)
  std::uint64_t seed = 0;                   // RNG seed for fault decisions (0 = random)
  // HTTPS: PEM files of the server certificate (chain) and its private key, read once by start().
  // Both empty = plain HTTP; one without the other is a start() error.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Platform's control plane (bridge/emulator/control_plane.h): the tenant GET /stats reports and
  // the sandboxes that exist (active). x-api-key must be client_id; x-gw-ims-org-id must be
  // ims_org_id when set (any non-empty value otherwise).
  std::string tenant_id = "acme";
  std::vector<std::string> sandboxes = {"prod"};
  Faults faults;
};

struct Stats {
  std::uint64_t requests = 0;              // collection requests received
  std::map<int, std::uint64_t> by_status;  // answered collection requests per HTTP status
  std::uint64_t resets = 0, hangs = 0;
  std::uint64_t messages_accepted = 0, messages_rejected = 0, messages_failed_retryable = 0;
  std::uint64_t unique_ids = 0;           // distinct xdmEntity._id among accepted messages
  std::uint64_t accepted_without_id = 0;  // accepted messages with no xdmEntity._id
  std::uint64_t tokens_issued = 0, token_requests_refused = 0, auth_failures = 0;
  std::uint64_t max_request_bytes_seen = 0;
  std::uint64_t bytes_received = 0;
};

class Server {
 public:
  // Startup code: binds Options::listen and starts serving before returning.
  static core::Result<std::unique_ptr<Server>> start(Options options);
  ~Server();  // stops, releases held connections
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  [[nodiscard]] std::uint16_t port() const;
  // "http://127.0.0.1:<port>", or "https://…" when Options::tls_cert_file is set.
  [[nodiscard]] std::string base_url() const;
  void set_faults(const Faults& faults);
  // The current fault set; `storm` is what is left of a running storm.
  [[nodiscard]] Faults faults() const;
  void expire_tokens();  // every issued token becomes invalid now
  void set_token_ttl(std::chrono::seconds ttl);
  [[nodiscard]] Stats stats() const;
  // Each accepted message's JSON (its exact bytes), in arrival order.
  [[nodiscard]] std::vector<std::string> accepted_messages() const;
  void clear();  // forget accepted messages and stats
  // Platform's control plane: everything created (JSON), back to empty, a sandbox's state.
  [[nodiscard]] std::string control_plane_dump() const;
  void control_plane_reset();
  void set_sandbox_state(const std::string& name, const std::string& state);
  // Accepted messages as NDJSON (a message spanning lines is minified); written to a temporary
  // file and renamed, so a reader never sees half a dump.
  bool dump_ndjson(const std::string& path) const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bridge::emulator

#pragma once
// Adobe IMS OAuth server-to-server access tokens (reference/platform-streaming.md section 2),
// fetched and refreshed by one background thread.
//
// - Single flight: only this thread talks to IMS. Senders read the current token; a 401/403 from
//   Platform asks for a new one with refused(generation), and asks for the same generation
//   twice count once.
// - The old token stays in use until its replacement arrives; a token past its expiry is
//   dropped (current() is empty) so nothing is sent with a token known to be dead.
// - Refresh ahead of expiry: at expiry - min(refresh_margin, lifetime / 5), and no later than 23 h
//   after issue (Adobe's advice for 24 h tokens). Failures retry with backoff (1 s doubling to
//   30 s, full jitter) and are counted; the error text never contains the secret.
// - `expires_in` unit: v3 answers seconds; /ims/token and /v1 answer milliseconds; elsewhere a
//   value above 10^6 is taken as milliseconds (no real token lives 11 days).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/core/result.h"
#include "bridge/metrics/metrics.h"

namespace bridge::platform {

struct IssuedToken {
  std::string access_token;
  std::chrono::milliseconds lifetime{0};
};

// Parses an IMS token response body. `unit` is the configured expires_in_unit and `token_url`
// decides "auto". Error text never quotes the body (it carries the token).
core::Result<IssuedToken> parse_token_response(std::string_view body, std::string_view unit,
                                               std::string_view token_url);

// When to refresh a token of `lifetime` issued now, measured from issue.
std::chrono::milliseconds refresh_after(std::chrono::milliseconds lifetime,
                                        std::chrono::milliseconds margin);

class TokenSource {
 public:
  struct Token {
    // "Authorization: Bearer …", ready to hand to libcurl; null when there is no valid token.
    std::shared_ptr<const std::string> header;
    std::uint64_t generation = 0;  // increases with every token received
  };

  // Starts the refresh thread, which fetches the first token at once.
  TokenSource(const config::ImsConfig& ims, const config::PlatformSinkConfig& http,
              metrics::PlatformMetrics& metrics);
  ~TokenSource();
  TokenSource(const TokenSource&) = delete;
  TokenSource& operator=(const TokenSource&) = delete;

  [[nodiscard]] Token current() const;
  // Platform refused the token of `generation`: fetch a new one now (once per generation).
  void refused(std::uint64_t generation);
  // Waits until a token newer than `generation` is current; false on timeout.
  bool wait_newer(std::uint64_t generation, std::chrono::milliseconds timeout) const;
  // The last fetch failure ("" after a success), for readiness and logs; never holds secrets.
  [[nodiscard]] std::string last_error() const;

 private:
  void run();
  core::Result<IssuedToken> fetch();

  const config::ImsConfig& ims_;  // outlives this (the sink's configuration); holds the secret
  const std::string proxy_;
  const bool tls_verify_;
  const std::string ca_file_;
  const std::chrono::milliseconds connect_timeout_;
  metrics::PlatformMetrics& metrics_;
  // capillary_bridge_platform_auth_failing of the authenticated inlets: raised when IMS refuses
  // the credentials (the sink lowers it when Platform accepts a request).
  const std::vector<prometheus::Gauge*> auth_failing_;
  prometheus::Counter& tls_failures_;  // {endpoint="ims"}
  prometheus::Gauge& tls_failing_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::shared_ptr<const std::string> header_;
  std::uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point expires_at_{};
  std::uint64_t refused_generation_ = 0;
  bool refresh_now_ = false;
  bool stop_ = false;
  std::atomic<bool> stopping_{false};  // read by libcurl's progress callback: abort a fetch
  std::string last_error_;
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace bridge::platform

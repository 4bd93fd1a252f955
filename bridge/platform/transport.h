#pragma once
// The Platform sink's HTTP: libcurl's multi interface, one easy handle per POST in flight (reused
// afterwards), with the sink's timeouts, TLS, HTTP/2 and proxy settings. It knows nothing of
// messages, partitions or verdicts: the worker posts bodies, tagged, and takes back each
// exchange's transport code, status, body (at most 4 MiB kept) and Retry-After header.
//
// Threads: the worker thread only, except wakeup().

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bridge/config/config.h"

namespace bridge::platform {

// A transfer that failed in TLS verification: the peer's certificate is not trusted, does not
// name the host or has a bad status, a pinned key does not match, the CA or CRL file or the
// client certificate is unusable, no common cipher. Not an outage: retrying cannot fix it, the
// operator must. A handshake cut short (CURLE_SSL_CONNECT_ERROR: also a reset connection) stays
// a connection failure.
[[nodiscard]] bool tls_failure(CURLcode rc);

class HttpTransport {
 public:
  struct Exchange {
    const void* tag = nullptr;
    CURLcode rc = CURLE_OK;  // CURLE_OK: an HTTP answer came (any status)
    long status = 0;
    std::string response;
    std::string retry_after;  // the header's value, as sent
    std::string error;        // libcurl's detail when rc is not CURLE_OK (may be empty)
    std::chrono::steady_clock::duration elapsed{};
  };

  explicit HttpTransport(const config::PlatformSinkConfig& cfg);
  ~HttpTransport();  // abandons the exchanges in flight
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Starts POSTing `body` (JSON) to `url`, with `auth_header` ("Authorization: Bearer …") when
  // not null. `body` and `auth_header` must stay alive until the exchange is taken back. Returns
  // why it could not start, else nullopt.
  [[nodiscard]] std::optional<std::string> post(const std::string& url,
                                                const std::string* auth_header,
                                                std::string_view body, const void* tag);
  // Moves every transfer along and appends the exchanges that ended.
  void perform(std::vector<Exchange>& ended);
  // Sleeps until there is socket activity, wakeup() or `timeout`.
  void wait(std::chrono::milliseconds timeout);
  // Interrupts wait(); any thread.
  void wakeup();
  [[nodiscard]] std::size_t in_flight() const { return running_.size(); }

 private:
  struct Running {
    Exchange exchange;
    char error[CURL_ERROR_SIZE] = {};
    curl_slist* headers = nullptr;
    std::chrono::steady_clock::time_point started;
  };
  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user);
  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user);

  const config::PlatformSinkConfig& cfg_;
  CURLM* multi_;
  std::unordered_map<CURL*, std::unique_ptr<Running>> running_;
  std::vector<CURL*> idle_;
};

}  // namespace bridge::platform

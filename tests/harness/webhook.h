#pragma once
// Posting Capillary webhooks to the receiver (bridge/receiver) the way ENS does: keep-alive
// HTTP/1.1 connections, one request at a time per connection, a fixed auth header. Used by the
// receiver's tests and by bench/receiver_bench.
//
// Threads: a WebhookClient belongs to one thread. run_load() starts its own threads.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bridge::harness {

struct WebhookAnswer {
  int status = 0;  // 0: no answer (connection refused, reset, timeout)
  std::string body;
  std::string retry_after;  // the Retry-After header, "" when absent
  std::chrono::microseconds latency{0};
};

class WebhookClient {
 public:
  // `url`: the whole URL (http://127.0.0.1:PORT/capillary/events); `auth`: a full header line
  // ("Authorization: Bearer t"), "" for none.
  WebhookClient(std::string url, std::string auth,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~WebhookClient();
  WebhookClient(const WebhookClient&) = delete;
  WebhookClient& operator=(const WebhookClient&) = delete;

  WebhookAnswer post(const std::string& body, const std::vector<std::string>& headers = {});
  // Any method, any body (e.g. GET, or a body that is not JSON).
  WebhookAnswer send(const std::string& method, const std::string& body,
                     const std::vector<std::string>& headers = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A Capillary-shaped event (E1, pointsIssued-like) for customer `customer` with its sequence
// number `seq` among that customer's events and a unique eventId "evt-<customer>-<seq>".
[[nodiscard]] std::string webhook_event(std::uint64_t customer, std::uint64_t seq,
                                        std::size_t pad_to = 0);

struct LoadResult {
  std::uint64_t sent = 0;
  std::vector<std::string> acknowledged;  // eventIds answered 200, in no particular order
  std::map<int, std::uint64_t> by_status;
  std::vector<std::chrono::microseconds> latencies;  // of 200 answers
  std::uint64_t with_retry_after = 0;                // 503 answers carrying Retry-After
  double seconds = 0;
};

struct LoadOptions {
  std::string url;
  std::string auth;
  int connections = 32;
  std::uint64_t events = 50000;    // in total; 0 = until `stop` returns true
  std::uint64_t customers = 1000;  // customer c is always posted by connection c % connections
  std::size_t pad_to = 0;          // event size in bytes (0: ~250 B)
  // When a request is not answered 200: post the same event again (ENS retries), after this.
  bool retry = false;
  std::chrono::milliseconds retry_pause{200};
  std::function<bool()> stop;  // polled between requests
  std::chrono::milliseconds timeout{30000};
};

// Posts events from `connections` threads; each thread owns the customers c with
// c % connections == its index and posts each one's events in sequence order, so per customer
// the order sent is the sequence order.
[[nodiscard]] LoadResult run_load(const LoadOptions& options);

}  // namespace bridge::harness

#pragma once
// The Platform sink's worker thread: it owns the per-partition queues, every request and the
// HTTP transport (transport.h) (see sink.h for the guarantees). The per-partition queues and
// their barriers are queues.h's, which messages the next request takes is the batch planner's
// (batch.h), what an answer means for each message is settle.cc's.
// The pipeline thread reaches it only through the public methods below, which are thread-safe.

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/metrics/metrics.h"
#include "bridge/platform/batch.h"
#include "bridge/platform/breaker.h"
#include "bridge/platform/classify.h"
#include "bridge/platform/queues.h"
#include "bridge/platform/rate_limiter.h"
#include "bridge/platform/transport.h"
#include "bridge/sink/sink.h"

namespace bridge::platform {

class TokenSource;

class Worker {
 public:
  Worker(const config::PlatformSinkConfig& cfg, metrics::PlatformMetrics& metrics,
         TokenSource* tokens);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Hands messages over (their bytes already counted by hold()).
  void submit(std::vector<Item>& items);
  // Outcomes decided on the pipeline thread (never sent).
  void answer_now(sink::Outcome outcome);
  void add_outstanding(std::size_t n) { outstanding_.fetch_add(n, std::memory_order_relaxed); }
  void collect(std::vector<sink::Outcome>& out, std::chrono::milliseconds wait);
  bool flush(std::chrono::milliseconds deadline);
  // See sink::Sink::release; `partitions` are interned partition ids.
  bool release(std::vector<std::uint32_t> partitions, std::chrono::milliseconds deadline);
  void hold(std::size_t bytes) {
    held_.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
  }
  [[nodiscard]] std::int64_t held_bytes() const { return held_.load(std::memory_order_relaxed); }
  [[nodiscard]] bool reachable() const { return reachable_.load(std::memory_order_relaxed); }

 private:
  struct Inlet {
    std::string name;
    std::string url;
    bool authenticated = true;
    std::size_t cap_bytes = 0;  // lowered by 413s, restored a minute after the last one
    Clock::time_point cap_lowered_at{};
    TokenBucket requests_limit{0, 1};
    TokenBucket messages_limit{0, 1};
    // 401/403 handling: the newest token generation Platform refused, how many fresh tokens in
    // a row it refused, and how long to hold requests while a new token is fetched.
    std::uint64_t refused_generation = 0;
    int refusals = 0;
    Clock::time_point hold_until{};
    Breaker breaker{{}};
    prometheus::Counter* accepted = nullptr;
    prometheus::Counter* rejected = nullptr;
    prometheus::Counter* retried = nullptr;
    prometheus::Counter* resent_after_accept = nullptr;
    prometheus::Gauge* failing = nullptr;  // capillary_bridge_platform_auth_failing{inlet}
    prometheus::Gauge* breaker_open = nullptr;
    prometheus::Counter* body_limit_refusals = nullptr;
    prometheus::Gauge* body_limit_failing = nullptr;
    prometheus::Counter* tls_failures = nullptr;
    prometheus::Gauge* tls_failing = nullptr;
  };

  struct Request {
    std::uint32_t inlet = 0;
    std::vector<Item> items;
    std::string body;
    std::shared_ptr<const std::string> auth;  // the header it was sent with, kept alive
    std::string response;
    std::string retry_after;
    std::uint64_t token_generation = 0;
  };

  // A release() waiting for the worker: dropped queues, then no request in flight carrying them.
  struct Release {
    std::vector<std::uint32_t> partitions;
    bool dropped = false;
    std::size_t in_flight = 0;  // requests carrying them, as last seen by the worker
    bool done = false;
    bool abandoned = false;  // release() gave up waiting
  };

  void run();
  void apply_release(Release& r);
  void check_releases();
  void accept_item(Item item);
  void dispatch(Clock::time_point now, Clock::time_point& wake);
  bool dispatch_one(std::uint32_t index, Clock::time_point now, bool flushing,
                    Clock::time_point& wake, const std::shared_ptr<const std::string>& auth,
                    std::uint64_t generation);
  void note_rate_wait(const char* limit, std::chrono::nanoseconds w, Clock::time_point now,
                      Clock::time_point& wake);
  void start(std::unique_ptr<Request> req, const std::shared_ptr<const std::string>& auth);
  void finished(HttpTransport::Exchange& exchange);
  void settle(Request& req, CURLcode rc, long status, std::string_view error,
              Clock::time_point now);
  void accepted_request(Request& req, long status, Clock::time_point now);
  void rejected_request(Request& req, const Classification& c, long status, Clock::time_point now);
  void split(Request& req, const Classification& c);
  void reauth(Request& req, const Classification& c, Clock::time_point now);
  void hold_without_token(std::uint32_t index, Clock::time_point now, Clock::time_point& wake);
  void hold_for_breaker(std::uint32_t index);
  void fail_unsent(Request& req, std::string_view why);
  void requeue(Request& req);
  void retry(Item& item, std::string_view reason, const std::string& text,
             std::chrono::milliseconds after);
  // A verdict Platform gave that would dead-letter `item`: rejected, or retry while the inlet's
  // breaker is open. Returns whether it was rejected.
  bool reject(Item& item, std::string_view reason, std::string text, Clock::time_point now);
  void answer(Item& item, sink::Verdict verdict, std::string_view reason, std::string text,
              std::chrono::milliseconds after);
  void drop(Item& item);
  void unhold(std::size_t bytes) {
    held_.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
  }
  void note_breaker(Inlet& inlet);
  void publish();
  void warn(Inlet& inlet, std::string_view reason, const std::string& text);

  const config::PlatformSinkConfig& cfg_;
  metrics::PlatformMetrics& metrics_;
  TokenSource* tokens_;
  HttpTransport transport_;
  std::vector<HttpTransport::Exchange> ended_;
  std::vector<Inlet> inlets_;
  Queues queues_;
  std::vector<Item> spill_;  // messages leaving the queues at once (release, retry, re-queue)
  std::size_t cursor_ = 0;
  std::uint32_t inlet_cursor_ = 0;
  BatchPlan plan_;
  // First per-message 500 of each message still being retried, by ticket.
  std::unordered_map<std::uint64_t, Clock::time_point> first_failure_;
  Clock::time_point pruned_at_{};
  std::unordered_map<const Request*, std::unique_ptr<Request>> requests_;  // in flight
  std::vector<sink::Outcome> ready_local_;
  std::size_t dropped_local_ = 0;  // released messages that owe no outcome
  std::map<std::string, Clock::time_point> last_warn_;
  Clock::time_point rate_wait_until_{};
  std::vector<std::shared_ptr<Release>> releasing_;  // worker thread only

  std::mutex in_mutex_;
  std::vector<Item> incoming_;
  std::vector<std::shared_ptr<Release>> release_requests_;
  bool stop_ = false;

  std::mutex out_mutex_;
  std::condition_variable out_ready_;
  std::condition_variable flushed_;  // outstanding_ fell, or a release progressed
  std::vector<sink::Outcome> ready_;
  std::atomic<std::size_t> outstanding_{0};
  std::atomic<bool> flushing_{false};
  std::atomic<bool> reachable_{true};
  std::atomic<std::int64_t> held_{0};

  std::thread thread_;
};

}  // namespace bridge::platform

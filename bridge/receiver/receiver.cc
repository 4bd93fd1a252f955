#include "bridge/receiver/receiver.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "bridge/http/mhd.h"
#include "bridge/kafka/producer.h"
#include "bridge/receiver/auth.h"
#include "bridge/receiver/events.h"
#include "transforms/api/values.h"

namespace bridge::receiver {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kJson = "application/json";
constexpr std::string_view kReceivedAtHeader = "capillary-bridge-received-at";
constexpr std::string_view kRequestIdHeader = "capillary-bridge-request-id";
// How often the readiness thread asks the broker for the topics' metadata, and how long it waits.
constexpr milliseconds kReadyInterval{1000};
constexpr milliseconds kReadyTimeout{2000};
// A delivery report comes within message.timeout.ms; waiting a little longer only guards
// against a report that never comes (then the answer is 503, like a timeout).
constexpr milliseconds kReportSlack{5000};
// Key, headers and record framing on top of an event's bytes, for the client's record limit.
constexpr std::int64_t kRecordOverhead = 64 * 1024;
// Errors that say the event can never be written to the topic as it is: 413, not 503 (ENS would
// retry a 503 for days).
bool too_large(rd_kafka_resp_err_t e) {
  return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}
// A connection thread's parsers keep the capacity of the largest body they read; above this they
// are dropped after the request.
constexpr std::size_t kKeepParserBytes = 256 * 1024;
// How often a waiting request looks at the shutdown flag.
constexpr milliseconds kWaitSlice{100};

// One request's events on their way to the broker. Each produced event holds a reference (its
// ticket, see Impl::on_report), so the request may answer and go before every report is in.
struct Pending {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t outstanding = 0;
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
};
using PendingRef = std::shared_ptr<Pending>;

struct Path {
  std::string pattern;  // as configured: the metric label
  std::string prefix;   // pattern up to "{orgId}" when templated
  bool org_template = false;
  std::string topic;
  Authenticator auth;
  prometheus::Counter* bytes = nullptr;
  prometheus::Counter* auth_failures = nullptr;
  prometheus::Counter* produced = nullptr;
  prometheus::Counter* failed = nullptr;
  prometheus::Counter* rejected = nullptr;
  prometheus::Counter* answered_ok = nullptr;  // requests_total{status="200"}: looked up once
};

struct Request {
  const Path* path = nullptr;
  std::int64_t path_org = 0;
  bool probe = false;  // GET /healthz or /readyz: not counted
  Clock::time_point deadline;
  std::string body;
  std::size_t received = 0;
  bool too_large = false;
  bool counted = false;  // holds one of max_concurrent_requests
  std::string request_id;
};

// Logs one line per reason at most every 10 s, with how many were not logged in between.
class LogLimiter {
 public:
  template <typename... Args>
  void warn(std::string_view reason, fmt::format_string<Args...> format, Args&&... args) {
    const auto now = Clock::now();
    std::uint64_t suppressed = 0;
    {
      std::lock_guard lock(mu_);
      auto& slot = slots_[std::string(reason)];
      if (slot.last != Clock::time_point{} && now - slot.last < std::chrono::seconds(10)) {
        ++slot.suppressed;
        return;
      }
      slot.last = now;
      suppressed = std::exchange(slot.suppressed, 0);
    }
    const std::string line = fmt::format(format, std::forward<Args>(args)...);
    if (suppressed > 0) {
      spdlog::warn("{} ({} more like it not logged)", line, suppressed);
    } else {
      spdlog::warn("{}", line);
    }
  }

 private:
  struct Slot {
    Clock::time_point last{};
    std::uint64_t suppressed = 0;
  };
  std::mutex mu_;
  std::map<std::string, Slot, std::less<>> slots_;
};

bool valid_request_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':';
  });
}

std::string new_request_id() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out;
}

MHD_Result on_request(void* cls, MHD_Connection* conn, const char* url, const char* method,
                      const char* version, const char* upload, std::size_t* upload_size,
                      void** context);
void on_completed(void* cls, MHD_Connection* conn, void** context, MHD_RequestTerminationCode code);

}  // namespace

struct Receiver::Impl {
  Impl(const config::ReceiverConfig& c, metrics::Metrics& m) : cfg(c), metrics(*m.registry()) {}

  const config::ReceiverConfig& cfg;  // outlives the receiver (not copied: webhook tokens)
  metrics::ReceiverMetrics metrics;
  std::vector<std::unique_ptr<Path>> paths;
  std::optional<kafka::Producer> producer;
  std::int64_t max_record_bytes = 1000000;  // the producer's message.max.bytes
  std::vector<std::pair<std::string, rd_kafka_topic_t*>> topics;
  std::string tls_cert;
  std::string tls_key;
  MHD_Daemon* daemon = nullptr;
  std::uint16_t port = 0;
  std::string url_host;
  LogLimiter log;

  std::atomic<bool> broker_ok{false};
  std::atomic<bool> stopping{false};   // no new requests
  std::atomic<bool> hard_stop{false};  // waiting requests give up (503)
  std::atomic<std::int64_t> inflight{0};
  std::atomic<std::uint64_t> produced{0};
  std::atomic<std::uint64_t> answered{0};
  std::mutex inflight_mu;
  std::condition_variable inflight_cv;

  std::atomic<bool> threads_stop{false};  // the poll thread
  std::atomic<bool> checker_stop{false};  // the readiness thread (stopped first at shutdown)
  std::mutex threads_mu;
  std::condition_variable threads_cv;
  std::thread poller;
  std::thread checker;
  bool shut_down = false;
  bool shut_down_clean = true;  // what the first shutdown() returned
  std::mutex shutdown_mu;

  // --- Kafka ---

  // The delivery report callback (poll thread): the ticket is a heap PendingRef.
  static void on_report(const kafka::DeliveryReport& report) {
    std::unique_ptr<PendingRef> ref(reinterpret_cast<PendingRef*>(report.ticket));
    Pending& p = **ref;
    {
      std::lock_guard lock(p.mu);
      if (report.error != RD_KAFKA_RESP_ERR_NO_ERROR && p.error == RD_KAFKA_RESP_ERR_NO_ERROR) {
        p.error = report.error;
      }
      --p.outstanding;
    }
    p.cv.notify_one();
  }

  void poll_loop() {
    std::vector<kafka::DeliveryReport> unused;
    while (!threads_stop.load()) {
      producer->poll(unused, milliseconds(100));
    }
  }

  // Every topic answers metadata with all partitions led. Errors: `unknown` when the broker says
  // a topic does not exist.
  enum class Check { ok, down, unknown };
  Check check_topics(milliseconds timeout) {
    for (const auto& [name, handle] : topics) {
      if (checker_stop.load()) {
        return Check::down;
      }
      const rd_kafka_metadata_t* md = nullptr;
      const rd_kafka_resp_err_t err =
          rd_kafka_metadata(producer->handle(), 0, handle, &md, static_cast<int>(timeout.count()));
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR || md == nullptr) {
        return Check::down;
      }
      Check result = Check::ok;
      if (md->topic_cnt != 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        result = Check::unknown;
      } else if (md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR ||
                 md->topics[0].partition_cnt == 0) {
        result = Check::down;
      } else {
        for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
          if (md->topics[0].partitions[i].leader < 0) {
            result = Check::down;
          }
        }
      }
      rd_kafka_metadata_destroy(md);
      if (result != Check::ok) {
        return result;
      }
    }
    return Check::ok;
  }

  void check_loop() {
    std::unique_lock lock(threads_mu);
    while (!checker_stop.load()) {
      lock.unlock();
      const Check c = check_topics(kReadyTimeout);
      if (c == Check::ok) {
        producer->mark_brokers_up();
      } else if (broker_ok.load()) {
        spdlog::warn("receiver: not ready: {}", c == Check::unknown
                                                    ? "a receiver topic does not exist"
                                                    : "the broker does not answer for the topics");
      }
      if (c == Check::ok && !broker_ok.load()) {
        spdlog::info("receiver: ready: the broker answers for the topics");
      }
      broker_ok.store(c == Check::ok);
      metrics.ready.Set(accepting() ? 1 : 0);
      lock.lock();
      threads_cv.wait_for(lock, kReadyInterval, [this] { return checker_stop.load(); });
    }
  }

  [[nodiscard]] bool accepting() const {
    return broker_ok.load() && !producer->all_brokers_down() && !stopping.load() &&
           producer->fatal_error().empty();
  }

  // --- HTTP ---

  const Path* match(std::string_view url, std::int64_t& org) const {
    for (const auto& p : paths) {
      if (!p->org_template) {
        if (url == p->pattern) {
          return p.get();
        }
        continue;
      }
      if (!url.starts_with(p->prefix)) {
        continue;
      }
      const std::string_view rest = url.substr(p->prefix.size());
      std::int64_t value = 0;
      const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
      if (!rest.empty() && ec == std::errc() && ptr == rest.data() + rest.size() && value > 0) {
        org = value;
        return p.get();
      }
    }
    return nullptr;
  }

  MHD_Result reply(MHD_Connection* conn, const Request& req, int status, std::string_view error,
                   std::string_view detail = {}, std::size_t events = 0) {
    std::string body;
    if (status == 200) {
      body =
          fmt::format(R"({{"status":"ok","requestId":"{}","events":{}}})", req.request_id, events);
    } else {
      body = fmt::format(R"({{"error":"{}","message":"{}","requestId":"{}"}})", error,
                         json_escape(detail), req.request_id);
    }
    body += '\n';
    MHD_Response* response =
        MHD_create_response_from_buffer(body.size(), body.data(), MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, kJson);
    if (!req.request_id.empty()) {
      MHD_add_response_header(response, "X-Request-Id", req.request_id.c_str());
    }
    if (status == 503) {
      const std::string after = std::to_string(cfg.retry_after_s);
      MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, after.c_str());
    }
    if (status == 405) {
      MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "POST");
    }
    if (stopping.load()) {
      MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    const MHD_Result result = MHD_queue_response(conn, static_cast<unsigned>(status), response);
    MHD_destroy_response(response);
    if (req.probe) {
      return result;
    }
    if (status == 200) {
      req.path->answered_ok->Increment();
    } else {
      metrics.requests
          .Add({{"path", req.path != nullptr ? req.path->pattern : std::string("other")},
                {"status", std::to_string(status)}})
          .Increment();
    }
    answered.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("receiver: {} -> {} {} (request {})",
                  req.path != nullptr ? req.path->pattern : "-", status, error, req.request_id);
    return result;
  }

  MHD_Result refuse(MHD_Connection* conn, Request& req, std::string_view reason,
                    std::string_view detail) {
    metrics.refused.Add({{"reason", std::string(reason)}}).Increment();
    return reply(conn, req, 503, reason, detail);
  }

  std::size_t header_bytes(MHD_Connection* conn) const {
    std::size_t total = 0;
    MHD_get_connection_values(
        conn, MHD_HEADER_KIND,
        [](void* cls, MHD_ValueKind, const char* key, const char* value) {
          *static_cast<std::size_t*>(cls) +=
              std::strlen(key) + (value != nullptr ? std::strlen(value) : 0) + 4;
          return MHD_YES;
        },
        &total);
    return total;
  }

  MHD_Result first_call(MHD_Connection* conn, const char* url, const char* method, Request& req) {
    req.deadline = Clock::now() + cfg.read_timeout;
    const char* given_id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    req.request_id = given_id != nullptr && valid_request_id(given_id) ? std::string(given_id)
                                                                       : new_request_id();
    const std::string_view path(url);
    if (std::strcmp(method, "GET") == 0 && (path == "/healthz" || path == "/readyz")) {
      req.probe = true;
      const bool ok = path == "/healthz" ? producer->fatal_error().empty() : accepting();
      return reply(conn, req, ok ? 200 : 503, ok ? "" : "not-ready",
                   ok ? "" : "the receiver is not accepting events");
    }
    req.path = match(path, req.path_org);
    if (req.path == nullptr) {
      return reply(conn, req, 404, "not-found", "no webhook path here");
    }
    if (std::strcmp(method, "POST") != 0) {
      return reply(conn, req, 405, "method-not-allowed", "webhooks are POSTed");
    }
    if (header_bytes(conn) > static_cast<std::size_t>(cfg.max_header_bytes)) {
      req.path->rejected->Increment();
      return reply(conn, req, 431, "headers-too-large",
                   fmt::format("request headers exceed {} bytes", cfg.max_header_bytes));
    }
    const char* secret =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, req.path->auth.header().c_str());
    if (secret == nullptr || !req.path->auth.accepts(secret)) {
      req.path->auth_failures->Increment();
      log.warn("auth", "receiver: 401 on {}: the {} header is {} (value not logged)",
               req.path->pattern, req.path->auth.header(), secret == nullptr ? "missing" : "wrong");
      return reply(conn, req, 401, "unauthorized",
                   fmt::format("the {} header is missing or wrong", req.path->auth.header()));
    }
    std::size_t declared = 0;
    if (const char* length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
      std::from_chars(length, length + std::strlen(length), declared);
    }
    if (declared > static_cast<std::size_t>(cfg.max_body_bytes)) {
      req.path->rejected->Increment();
      return reply(conn, req, 413, "too-large",
                   fmt::format("the body exceeds {} bytes", cfg.max_body_bytes));
    }
    if (stopping.load()) {
      return refuse(conn, req, "shutting-down", "the receiver is shutting down");
    }
    if (!accepting()) {
      return refuse(conn, req, "broker-down", "Kafka is not reachable; retry later");
    }
    if (inflight.fetch_add(1) >= cfg.max_concurrent_requests) {
      release_inflight();
      return refuse(conn, req, "too-many-requests",
                    fmt::format("{} requests in flight", cfg.max_concurrent_requests));
    }
    req.counted = true;
    metrics.inflight_requests.Increment();
    req.body.reserve(declared + simdjson::SIMDJSON_PADDING);
    return MHD_YES;
  }

  MHD_Result upload(const char* data, std::size_t size, Request& req) {
    if (Clock::now() > req.deadline) {
      log.warn("slow", "receiver: a request on {} did not arrive within {} ms: connection closed",
               req.path->pattern, cfg.read_timeout.count());
      return MHD_NO;
    }
    req.received += size;
    if (req.received > static_cast<std::size_t>(cfg.max_body_bytes)) {
      req.too_large = true;
      req.body.clear();
      // A chunked body far over the limit is not read to its end before the 413.
      return req.received > 4 * static_cast<std::size_t>(cfg.max_body_bytes) ? MHD_NO : MHD_YES;
    }
    req.body.append(data, size);
    return MHD_YES;
  }

  MHD_Result answer(MHD_Connection* conn, Request& req) {
    req.path->bytes->Increment(static_cast<double>(req.received));
    if (req.too_large) {
      req.path->rejected->Increment();
      return reply(conn, req, 413, "too-large",
                   fmt::format("the body exceeds {} bytes", cfg.max_body_bytes));
    }
    thread_local std::optional<Inspector> inspector_slot;
    if (!inspector_slot) {
      inspector_slot.emplace();
    }
    Inspector& inspector = *inspector_slot;
    thread_local std::vector<Event> events;
    thread_local std::string key;
    events.clear();
    const std::size_t size = req.body.size();
    req.body.reserve(size + simdjson::SIMDJSON_PADDING);
    if (auto ok = inspector.inspect(std::string_view(req.body.data(), size), events); !ok) {
      req.path->rejected->Increment();
      return reply(conn, req, 400, ok.error().code, ok.error().message);
    }
    if (req.path_org != 0) {
      for (const auto& e : events) {
        if (e.has_org_id && e.org_id != req.path_org) {
          req.path->rejected->Increment(static_cast<double>(events.size()));
          return reply(conn, req, 400, "org-mismatch", "the event's orgId differs from the path's");
        }
      }
    }
    for (const auto& e : events) {
      // Checked for every event before any is produced: nothing of a refused body goes out.
      if (static_cast<std::int64_t>(e.raw.size()) + kRecordOverhead > max_record_bytes) {
        req.path->rejected->Increment(static_cast<double>(events.size()));
        return reply(conn, req, 413, "too-large",
                     fmt::format("an event exceeds the producer's message.max.bytes ({})",
                                 max_record_bytes));
      }
    }
    std::array<char, transforms::values::kMaxTimeText> received_at{};
    const std::size_t received_at_size =
        transforms::values::format_utc_ms(std::chrono::duration_cast<milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count(),
                                          received_at.data());
    const std::array<core::Header, 2> headers{
        core::Header{kReceivedAtHeader, std::string_view(received_at.data(), received_at_size)},
        core::Header{kRequestIdHeader, req.request_id}};
    auto pending = std::make_shared<Pending>();
    pending->outstanding = events.size();
    const auto sent = Clock::now();
    rd_kafka_resp_err_t refused = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (std::size_t i = 0; i < events.size(); ++i) {
      key_for(events[i], cfg.key, req.path_org, key);
      auto ticket = std::make_unique<PendingRef>(pending);
      refused = producer->produce(req.path->topic, key, events[i].raw, headers,
                                  reinterpret_cast<std::uintptr_t>(ticket.get()));
      if (refused != RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::lock_guard lock(pending->mu);
        pending->outstanding -= events.size() - i;
        break;
      }
      (void)ticket.release();  // the delivery report owns it now
    }
    if (size > kKeepParserBytes) {
      // The parsers grew to this body: give that memory back rather than hold it per connection.
      inspector_slot.reset();
    }
    if (refused == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      req.path->failed->Increment(static_cast<double>(events.size()));
      return refuse(conn, req, "queue-full", "the producer's queue is full; retry later");
    }
    if (too_large(refused)) {
      req.path->failed->Increment(static_cast<double>(events.size()));
      return reply(conn, req, 413, "too-large", rd_kafka_err2name(refused));
    }
    if (refused != RD_KAFKA_RESP_ERR_NO_ERROR) {
      req.path->failed->Increment(static_cast<double>(events.size()));
      log.warn("produce", "receiver: produce to {} refused: {}", req.path->topic,
               rd_kafka_err2str(refused));
      return refuse(conn, req, "produce-failed", rd_kafka_err2name(refused));
    }
    const auto give_up = sent + cfg.produce_timeout + kReportSlack;
    rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
    bool done = false;
    {
      std::unique_lock lock(pending->mu);
      while (!(done = pending->outstanding == 0) && !hard_stop.load() && Clock::now() < give_up) {
        pending->cv.wait_for(lock, kWaitSlice);
      }
      error = pending->error;
    }
    if (done && error == RD_KAFKA_RESP_ERR_NO_ERROR) {
      metrics.produce_seconds.Observe(std::chrono::duration<double>(Clock::now() - sent).count());
      req.path->produced->Increment(static_cast<double>(events.size()));
      produced.fetch_add(events.size(), std::memory_order_relaxed);
      return reply(conn, req, 200, "", "", events.size());
    }
    req.path->failed->Increment(static_cast<double>(events.size()));
    if (!done && hard_stop.load()) {
      return refuse(conn, req, "shutting-down", "the receiver stopped before Kafka acknowledged");
    }
    if (done && too_large(error)) {
      // The broker's topic limit (max.message.bytes) is below this event. Earlier elements of a
      // batch may be in the topic: the README says so.
      log.warn("too-large", "receiver: the broker refused an event for {} as too large ({})",
               req.path->topic, rd_kafka_err2name(error));
      return reply(conn, req, 413, "too-large",
                   fmt::format("the topic does not accept an event this large ({})",
                               rd_kafka_err2name(error)));
    }
    if (!done || error == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) {
      log.warn("timeout", "receiver: Kafka did not acknowledge within {} ms",
               cfg.produce_timeout.count());
      return refuse(conn, req, "produce-timeout", "Kafka did not acknowledge in time");
    }
    log.warn("produce", "receiver: Kafka refused an event for {}: {}", req.path->topic,
             rd_kafka_err2str(error));
    return refuse(conn, req, "produce-failed", rd_kafka_err2name(error));
  }

  MHD_Result handle(MHD_Connection* conn, const char* url, const char* method, const char* data,
                    std::size_t* size, void** context) {
    auto* req = static_cast<Request*>(*context);
    if (req == nullptr) {
      req = new Request();  // on_completed deletes it
      *context = req;
      return first_call(conn, url, method, *req);
    }
    if (*size > 0) {
      const MHD_Result r = upload(data, *size, *req);
      *size = 0;
      return r;
    }
    return answer(conn, *req);
  }

  void release_inflight() {
    if (inflight.fetch_sub(1) == 1) {
      std::lock_guard lock(inflight_mu);
      inflight_cv.notify_all();
    }
  }

  void completed(void** context) {
    auto* req = static_cast<Request*>(*context);
    if (req == nullptr) {
      return;
    }
    if (req->counted) {
      metrics.inflight_requests.Decrement();
      release_inflight();
    }
    delete req;
    *context = nullptr;
  }

  void stop_checker() {
    {
      std::lock_guard lock(threads_mu);
      checker_stop.store(true);
    }
    threads_cv.notify_all();
    if (checker.joinable()) {
      checker.join();
    }
  }

  void stop_threads() {
    stop_checker();
    threads_stop.store(true);
    if (poller.joinable()) {
      poller.join();
    }
  }

  bool shutdown(milliseconds deadline) {
    std::lock_guard once(shutdown_mu);
    if (shut_down || daemon == nullptr) {
      return shut_down_clean;
    }
    shut_down = true;
    stopping.store(true);
    metrics.ready.Set(0);
    const auto until = Clock::now() + deadline;
    // libmicrohttpd's thread may still poll the listening socket: it is closed only after
    // MHD_stop_daemon. shutdown() stops it listening now (Linux: new connections are refused).
    const MHD_socket listener = MHD_quiesce_daemon(daemon);
    if (listener != MHD_INVALID_SOCKET) {
      ::shutdown(listener, SHUT_RDWR);
    }
    // A metadata request in flight must not hold the shutdown past its deadline.
    checker_stop.store(true);
    threads_cv.notify_all();
    bool clean = true;
    {
      std::unique_lock lock(inflight_mu);
      clean = inflight_cv.wait_until(lock, until, [this] { return inflight.load() == 0; });
    }
    if (!clean) {
      spdlog::warn("receiver: {} request(s) still in flight at the shutdown deadline: answered 503",
                   inflight.load());
    }
    hard_stop.store(true);
    MHD_stop_daemon(daemon);
    daemon = nullptr;
    if (listener != MHD_INVALID_SOCKET) {
      ::close(listener);
    }
    const auto left =
        std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(until - Clock::now()));
    if (!producer->flush(left)) {
      rd_kafka_purge(producer->handle(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
    stop_threads();
    std::vector<kafka::DeliveryReport> unused;
    producer->poll(unused, milliseconds(0));  // purged messages' reports free their tickets
    shut_down_clean = clean;
    return clean;
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    stop_threads();
    for (auto& [name, handle] : topics) {
      rd_kafka_topic_destroy(handle);
    }
  }
};

namespace {

MHD_Result on_request(void* cls, MHD_Connection* conn, const char* url, const char* method,
                      const char* /*version*/, const char* upload, std::size_t* upload_size,
                      void** context) {
  return static_cast<Receiver::Impl*>(cls)->handle(conn, url, method, upload, upload_size, context);
}

void on_completed(void* cls, MHD_Connection* /*conn*/, void** context,
                  MHD_RequestTerminationCode /*code*/) {
  static_cast<Receiver::Impl*>(cls)->completed(context);
}

}  // namespace

core::Result<std::unique_ptr<Receiver>> Receiver::start(const config::ReceiverConfig& receiver,
                                                        const config::KafkaConfig& kafka,
                                                        metrics::Metrics& metrics,
                                                        milliseconds startup_wait) {
  auto address = http::parse_listen(receiver.listen, "receiver-listen");
  if (!address) {
    return tl::unexpected(address.error());
  }
  auto impl = std::make_unique<Impl>(receiver, metrics);
  for (const auto& p : receiver.paths) {
    auto path = std::make_unique<Path>(Path{.pattern = p.path,
                                            .prefix = {},
                                            .org_template = p.path.ends_with("/{orgId}"),
                                            .topic = p.topic,
                                            .auth = Authenticator(p.auth)});
    if (path->org_template) {
      path->prefix = p.path.substr(0, p.path.size() - std::string_view("{orgId}").size());
    }
    auto& m = impl->metrics;
    path->bytes = &m.bytes.Add({{"path", p.path}});
    path->auth_failures = &m.auth_failures.Add({{"path", p.path}});
    path->produced = &m.events.Add({{"path", p.path}, {"outcome", "produced"}});
    path->failed = &m.events.Add({{"path", p.path}, {"outcome", "failed"}});
    path->rejected = &m.events.Add({{"path", p.path}, {"outcome", "rejected"}});
    path->answered_ok = &m.requests.Add({{"path", p.path}, {"status", "200"}});
    impl->paths.push_back(std::move(path));
  }

  // Durability settings the receiver's promise rests on; the user's properties cannot undo them.
  // linger.ms 0: a request's event goes out at once (bench/receiver_bench, 2 cores: one
  // connection 2,100 requests/s at p50 0.4 ms, against 380/s at linger.ms 2; 64 connections
  // 13,500/s against 18,700/s). Set receiver.properties.linger.ms for many connections.
  std::map<std::string, std::string> props = {
      {"linger.ms", "0"},
      // Bounded: a full queue answers 503 at once instead of buffering without limit.
      {"queue.buffering.max.kbytes", "65536"},
  };
  for (const auto& [k, v] : receiver.properties) {
    props[k] = v;
  }
  // The client's own record limit must not refuse what the body limit let in (librdkafka's
  // default is 1,000,000 bytes; the body limit's default 1 MiB): the broker's topic limit decides.
  props.try_emplace("message.max.bytes", std::to_string(std::max<std::int64_t>(
                                             1000000, receiver.max_body_bytes + kRecordOverhead)));
  impl->max_record_bytes = std::stoll(props["message.max.bytes"]);
  props["acks"] = "all";
  // A missing topic is an operator's mistake to report, not one to paper over with a topic of
  // the broker's default partition count.
  props["allow.auto.create.topics"] = "false";
  props["message.timeout.ms"] = std::to_string(receiver.produce_timeout.count());
  Impl* raw = impl.get();
  auto producer = kafka::Producer::create(
      kafka, receiver.brokers, props, [](const kafka::DeliveryReport& r) { Impl::on_report(r); });
  if (!producer) {
    return tl::unexpected(producer.error());
  }
  impl->producer.emplace(std::move(*producer));
  for (const auto& p : impl->paths) {
    const bool known = std::any_of(impl->topics.begin(), impl->topics.end(),
                                   [&](const auto& t) { return t.first == p->topic; });
    if (!known) {
      impl->topics.emplace_back(
          p->topic, rd_kafka_topic_new(impl->producer->handle(), p->topic.c_str(), nullptr));
    }
  }
  impl->poller = std::thread([raw] { raw->poll_loop(); });

  const auto wait_until = Clock::now() + startup_wait;
  Impl::Check check = Impl::Check::down;
  do {
    check = raw->check_topics(std::min(kReadyTimeout, startup_wait));
    if (check != Impl::Check::down) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(200));
  } while (Clock::now() < wait_until);
  if (check == Impl::Check::unknown) {
    raw->stop_threads();
    std::string names;
    for (const auto& [name, handle] : raw->topics) {
      names += names.empty() ? name : ", " + name;
    }
    // Permanent, like a missing dead-letter topic: the operator must create it (exit 2).
    return core::fail(core::ErrorKind::permanent, "receiver-topic",
                      fmt::format("a receiver topic does not exist on the cluster ({}): create "
                                  "it, or fix receiver.topic / receiver.paths[].topic",
                                  names));
  }
  raw->broker_ok.store(check == Impl::Check::ok);
  if (check != Impl::Check::ok) {
    spdlog::warn("receiver: the broker did not answer within {} ms; starting not ready",
                 startup_wait.count());
  }

  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO |
                   MHD_USE_ERROR_LOG | MHD_USE_ITC;
  if (address->ipv6) {
    flags |= MHD_USE_IPv6;
  }
  std::vector<MHD_OptionItem> options;
  if (!receiver.tls_cert_file.empty()) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      raw->stop_threads();
      return core::fail(core::ErrorKind::fatal, "receiver-tls",
                        "this libmicrohttpd was built without TLS support");
    }
    auto cert = http::read_pem(receiver.tls_cert_file, "certificate", "receiver-tls");
    auto key = cert ? http::read_pem(receiver.tls_key_file, "key", "receiver-tls") : cert;
    if (!cert || !key) {
      raw->stop_threads();
      return tl::unexpected(!cert ? cert.error() : key.error());
    }
    impl->tls_cert = std::move(*cert);
    impl->tls_key = std::move(*key);
    flags |= MHD_USE_TLS;
    options.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, impl->tls_cert.data()});
    options.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, impl->tls_key.data()});
  }
  options.push_back({MHD_OPTION_END, 0, nullptr});
  const auto idle_seconds = static_cast<unsigned>((receiver.read_timeout.count() + 999) / 1000);
  // The connection's memory pool holds the request line, the headers and the read buffer: a
  // request whose headers do not fit is answered 431 by libmicrohttpd itself.
  const auto pool = static_cast<std::size_t>(receiver.max_header_bytes) + 32 * 1024;
  errno = 0;
  impl->daemon = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &on_request, raw, MHD_OPTION_SOCK_ADDR,
      reinterpret_cast<const sockaddr*>(&address->address), MHD_OPTION_NOTIFY_COMPLETED,
      &on_completed, raw, MHD_OPTION_CONNECTION_LIMIT,
      static_cast<unsigned>(receiver.max_connections), MHD_OPTION_CONNECTION_TIMEOUT, idle_seconds,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, MHD_OPTION_EXTERNAL_LOGGER, &http::log_from_mhd,
      nullptr, MHD_OPTION_ARRAY, options.data(), MHD_OPTION_END);
  if (impl->daemon == nullptr) {
    const int error = errno;
    raw->stop_threads();
    return core::fail(core::ErrorKind::fatal, "receiver-listen",
                      fmt::format("cannot serve webhooks on {}: {}", receiver.listen,
                                  error != 0 ? std::strerror(error)
                                             : "libmicrohttpd failed (TLS certificate and key?)"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(impl->daemon, MHD_DAEMON_INFO_BIND_PORT);
  impl->port = info != nullptr ? info->port : 0;
  impl->url_host = address->url_host;
  impl->metrics.ready.Set(raw->accepting() ? 1 : 0);
  impl->checker = std::thread([raw] { raw->check_loop(); });
  auto out = std::unique_ptr<Receiver>(new Receiver(std::move(impl)));
  spdlog::info("receiver: listening on {} ({} path(s), topic {})", out->base_url(),
               receiver.paths.size(), receiver.paths.empty() ? "-" : receiver.paths.front().topic);
  return out;
}

Receiver::Receiver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Receiver::~Receiver() {
  impl_->shutdown(milliseconds(0));
}

std::uint16_t Receiver::port() const {
  return impl_->port;
}

std::string Receiver::base_url() const {
  return fmt::format("{}://{}:{}", impl_->tls_cert.empty() ? "http" : "https", impl_->url_host,
                     impl_->port);
}

bool Receiver::ready() const {
  return impl_->accepting();
}

bool Receiver::healthy() const {
  return impl_->producer->fatal_error().empty();
}

Counts Receiver::counts() const {
  return {impl_->produced.load(), impl_->answered.load()};
}

bool Receiver::shutdown(milliseconds deadline) {
  return impl_->shutdown(deadline);
}

bool Receiver::shutdown() {
  return impl_->shutdown(impl_->cfg.shutdown_timeout);
}

}  // namespace bridge::receiver

#include "bridge/platform/sink.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <deque>
#include <optional>
#include <unordered_set>

#include "bridge/platform/classify.h"
#include "bridge/platform/rate_limiter.h"
#include "bridge/platform/response.h"
#include "bridge/platform/retry_after.h"
#include "bridge/platform/token.h"
#include "transforms/xdm/message.h"
#include "transforms/xdm/writer.h"

namespace bridge::platform {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kOpen = R"({"messages":[)";
constexpr std::string_view kClose = "]}";
constexpr std::size_t kFraming = kOpen.size() + kClose.size();
constexpr std::size_t kMaxResponseBytes = 4 * 1024 * 1024;

// …/collection/{id} → …/collection/batch/{id}; a URL already naming the batch path is kept.
std::string batch_url(const std::string& inlet_url) {
  if (inlet_url.find("/collection/batch/") != std::string::npos) {
    return inlet_url;
  }
  std::string url = inlet_url;
  const auto at = url.find("/collection/");
  url.insert(at + std::string_view("/collection/").size(), "batch/");
  return url;
}

Transport transport_of(CURLcode rc) {
  switch (rc) {
    case CURLE_OK:
      return Transport::ok;
    case CURLE_OPERATION_TIMEDOUT:
      return Transport::timeout;
    default:
      return Transport::connection;
  }
}

std::string_view status_label(Transport t, long status) {
  static const std::map<long, std::string> kCodes = [] {
    std::map<long, std::string> m;
    for (long c : {200, 207, 400, 401, 403, 404, 408, 413, 429, 500, 501, 502, 503, 504}) {
      m.emplace(c, std::to_string(c));
    }
    return m;
  }();
  if (t == Transport::timeout) {
    return "timeout";
  }
  if (t == Transport::connection) {
    return "connection";
  }
  if (auto it = kCodes.find(status); it != kCodes.end()) {
    return it->second;
  }
  // Keep the label set bounded: other codes by class.
  static constexpr std::array<std::string_view, 6> kClasses{"1xx", "2xx", "3xx",
                                                            "4xx", "5xx", "other"};
  const long cls = status / 100;
  return cls >= 1 && cls <= 5 ? kClasses[static_cast<std::size_t>(cls - 1)] : kClasses[5];
}

}  // namespace

struct Item {
  std::uint64_t ticket = 0;
  std::string message;  // the complete streaming message
  std::uint32_t partition = 0;
  std::int64_t offset = 0;
  std::uint64_t epoch = 0;  // sink::Message::epoch
  // Record key and target folded together; 0 when the record has no key. A request carries at
  // most one message per (partition, order key), so Platform's independent per-message verdicts
  // can never put a customer's later record ahead of an earlier one in the same dataset.
  std::uint64_t order_key = 0;
  std::uint32_t inlet = 0;
  Clock::time_point enqueued;
};

// Everything that happens off the pipeline thread.
class Worker {
 public:
  Worker(const config::PlatformSinkConfig& cfg, metrics::PlatformMetrics& metrics,
         TokenSource* tokens)
      : cfg_(cfg), metrics_(metrics), tokens_(tokens), multi_(curl_multi_init()) {
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(cfg.concurrency));
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(cfg.concurrency));
    for (const auto& in : cfg.inlets) {
      Inlet inlet;
      inlet.name = in.name;
      inlet.url = batch_url(in.url);
      inlet.authenticated = in.authenticated;
      inlet.cap_bytes = static_cast<std::size_t>(cfg.max_request_bytes);
      inlet.requests_limit =
          TokenBucket(static_cast<double>(cfg.requests_per_second),
                      std::max(1.0, static_cast<double>(cfg.requests_per_second) / 10.0));
      inlet.messages_limit =
          TokenBucket(static_cast<double>(cfg.messages_per_second),
                      std::max(static_cast<double>(cfg.max_messages),
                               static_cast<double>(cfg.messages_per_second) / 10.0));
      inlet.accepted = &metrics.messages.Add({{"inlet", in.name}, {"outcome", "accepted"}});
      inlet.rejected = &metrics.messages.Add({{"inlet", in.name}, {"outcome", "rejected"}});
      inlet.retried = &metrics.messages.Add({{"inlet", in.name}, {"outcome", "retry"}});
      inlet.failing = &metrics.auth_failing.Add({{"inlet", in.name}});
      inlets_.push_back(std::move(inlet));
    }
    thread_ = std::thread([this] { run(); });
  }

  ~Worker() {
    {
      const std::lock_guard lock(in_mutex_);
      stop_ = true;
    }
    curl_multi_wakeup(multi_);
    thread_.join();
    for (auto& [easy, req] : requests_) {
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
      curl_slist_free_all(req->headers);
    }
    for (CURL* easy : idle_handles_) {
      curl_easy_cleanup(easy);
    }
    curl_multi_cleanup(multi_);
  }

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void submit(std::vector<Item>& items) {
    {
      const std::lock_guard lock(in_mutex_);
      for (auto& item : items) {
        incoming_.push_back(std::move(item));
      }
    }
    items.clear();
    curl_multi_wakeup(multi_);
  }

  // Outcomes decided on the pipeline thread (never sent).
  void answer_now(sink::Outcome outcome) {
    const std::lock_guard lock(out_mutex_);
    ready_.push_back(std::move(outcome));
  }

  void add_outstanding(std::size_t n) { outstanding_.fetch_add(n, std::memory_order_relaxed); }

  void collect(std::vector<sink::Outcome>& out, milliseconds wait) {
    std::unique_lock lock(out_mutex_);
    if (ready_.empty() && wait.count() > 0) {
      out_ready_.wait_for(lock, wait, [this] { return !ready_.empty(); });
    }
    for (auto& o : ready_) {
      out.push_back(std::move(o));
    }
    ready_.clear();
  }

  bool flush(milliseconds deadline) {
    flushing_.store(true, std::memory_order_relaxed);
    curl_multi_wakeup(multi_);
    std::unique_lock lock(out_mutex_);
    const bool done = flushed_.wait_for(
        lock, deadline, [this] { return outstanding_.load(std::memory_order_relaxed) == 0; });
    flushing_.store(false, std::memory_order_relaxed);
    return done;
  }

  [[nodiscard]] bool reachable() const { return reachable_.load(std::memory_order_relaxed); }

 private:
  struct Inlet {
    std::string name;
    std::string url;
    bool authenticated = true;
    std::size_t cap_bytes = 0;  // lowered by 413s
    TokenBucket requests_limit{0, 1};
    TokenBucket messages_limit{0, 1};
    // 401/403 handling: the newest token generation Platform refused, how many fresh tokens in
    // a row it refused, and how long to hold requests while a new token is fetched.
    std::uint64_t refused_generation = 0;
    int refusals = 0;
    Clock::time_point hold_until{};
    prometheus::Counter* accepted = nullptr;
    prometheus::Counter* rejected = nullptr;
    prometheus::Counter* retried = nullptr;
    prometheus::Gauge* failing = nullptr;  // capillary_bridge_platform_auth_failing{inlet}
  };

  struct Partition {
    std::deque<Item> queue;
    bool busy = false;  // one of its messages is in a request in flight
    // After a retry: messages of this epoch or older (sent before the pipeline saw the retry)
    // are answered retry too; a newer epoch is the pipeline's re-send.
    std::optional<std::uint64_t> barrier;
  };

  struct Request {
    std::uint32_t inlet = 0;
    std::vector<Item> items;
    std::string body;
    std::string response;
    std::string retry_after;
    curl_slist* headers = nullptr;
    std::uint64_t token_generation = 0;
    Clock::time_point started;
  };

  void run() {
    std::vector<Item> arrived;
    while (true) {
      {
        const std::lock_guard lock(in_mutex_);
        if (stop_) {
          return;
        }
        arrived.swap(incoming_);
      }
      for (auto& item : arrived) {
        accept_item(std::move(item));
      }
      arrived.clear();
      const auto now = Clock::now();
      Clock::time_point wake = now + milliseconds(100);
      dispatch(now, wake);
      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      bool finished_any = false;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
        if (msg->msg == CURLMSG_DONE) {
          finished(msg->easy_handle, msg->data.result);
          finished_any = true;
        }
      }
      publish();
      // A finished request frees its partitions: dispatch again before sleeping.
      const auto timeout = std::chrono::duration_cast<milliseconds>(wake - Clock::now());
      if (!finished_any) {
        curl_multi_poll(multi_, nullptr, 0,
                        static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 1, 100)),
                        nullptr);
      }
    }
  }

  void accept_item(Item item) {
    if (item.partition >= partitions_.size()) {
      partitions_.resize(item.partition + 1);
    }
    Partition& part = partitions_[item.partition];
    if (part.barrier) {
      if (item.epoch <= *part.barrier) {
        // Sent before the pipeline saw this partition's retry: must not overtake it.
        answer(item, sink::Verdict::retry, "platform-retry-pending", {}, milliseconds(0));
        return;
      }
      part.barrier.reset();  // the re-send has begun
    }
    part.queue.push_back(std::move(item));
  }

  void dispatch(Clock::time_point now, Clock::time_point& wake) {
    const bool flushing = flushing_.load(std::memory_order_relaxed);
    const auto n = static_cast<std::uint32_t>(inlets_.size());
    inlet_cursor_ = (inlet_cursor_ + 1) % n;  // no inlet can take every slot for good
    for (std::uint32_t k = 0; k < n; ++k) {
      const std::uint32_t i = (inlet_cursor_ + k) % n;
      if (requests_.size() >= static_cast<std::size_t>(cfg_.concurrency)) {
        return;
      }
      Inlet& inlet = inlets_[i];
      std::shared_ptr<const std::string> auth;
      std::uint64_t generation = 0;
      if (inlet.authenticated) {
        const auto token = tokens_->current();
        if (!token.header ||
            (token.generation <= inlet.refused_generation && now < inlet.hold_until)) {
          hold_without_token(i, now, wake);
          continue;
        }
        auth = token.header;
        generation = token.generation;
      }
      while (requests_.size() < static_cast<std::size_t>(cfg_.concurrency)) {
        if (!dispatch_one(i, now, flushing, wake, auth, generation)) {
          break;
        }
      }
    }
  }

  // Builds and starts one request for `inlet` when one is due. False when nothing was sent.
  bool dispatch_one(std::uint32_t index, Clock::time_point now, bool flushing,
                    Clock::time_point& wake, const std::shared_ptr<const std::string>& auth,
                    std::uint64_t generation) {
    Inlet& inlet = inlets_[index];
    const std::size_t cap = inlet.cap_bytes;
    const auto max_count = static_cast<std::size_t>(cfg_.max_messages);
    // Plan: which idle partitions contribute how many leading messages.
    std::size_t bytes = kFraming;
    std::size_t count = 0;
    Clock::time_point oldest = Clock::time_point::max();
    plan_.clear();
    keys_.clear();
    bool full = false;
    const std::size_t n = partitions_.size();
    for (std::size_t k = 0; k < n && !full; ++k) {
      const auto pid = static_cast<std::uint32_t>((cursor_ + k) % n);
      Partition& part = partitions_[pid];
      if (part.busy || part.queue.empty() || part.queue.front().inlet != index) {
        continue;
      }
      std::size_t take = 0;
      for (const Item& item : part.queue) {
        if (item.inlet != index) {
          break;
        }
        if (item.order_key != 0 && !keys_.insert(item.order_key).second) {
          break;  // this customer's next record for that dataset waits for the next request
        }
        const std::size_t add = item.message.size() + (count > 0 ? 1 : 0);
        if (count >= max_count || (bytes + add > cap && count > 0)) {
          full = true;
          break;
        }
        bytes += add;
        ++count;
        ++take;
        oldest = std::min(oldest, item.enqueued);
      }
      if (take > 0) {
        plan_.emplace_back(pid, take);
      }
    }
    if (count == 0) {
      return false;
    }
    if (!full && !flushing && now < oldest + cfg_.linger) {
      wake = std::min(wake, oldest + cfg_.linger);
      return false;
    }
    // Client-side guardrails, checked before anything is taken from the queues. A request token
    // spent while the message bucket is empty is lost: one in a thousand, it only errs slower.
    if (const auto w = inlet.requests_limit.try_take(1, now); w.count() > 0) {
      note_rate_wait("requests", w, now, wake);
      return false;
    }
    if (const auto w = inlet.messages_limit.try_take(static_cast<double>(count), now);
        w.count() > 0) {
      note_rate_wait("messages", w, now, wake);
      return false;
    }
    auto req = std::make_unique<Request>();
    req->inlet = index;
    req->token_generation = generation;
    req->items.reserve(count);
    req->body.reserve(bytes);
    req->body.append(kOpen);
    for (const auto& [pid, take] : plan_) {
      Partition& part = partitions_[pid];
      part.busy = true;
      for (std::size_t t = 0; t < take; ++t) {
        if (!req->items.empty()) {
          req->body.push_back(',');
        }
        req->body.append(part.queue.front().message);
        req->items.push_back(std::move(part.queue.front()));
        part.queue.pop_front();
      }
    }
    req->body.append(kClose);
    cursor_ = n > 0 ? (cursor_ + 1) % n : 0;
    start(std::move(req), auth);
    return true;
  }

  void note_rate_wait(const char* limit, std::chrono::nanoseconds w, Clock::time_point now,
                      Clock::time_point& wake) {
    // Counted as the time until the next attempt; the loop wakes then.
    const auto until = now + std::chrono::duration_cast<Clock::duration>(w);
    if (until > rate_wait_until_) {
      const auto from = std::max(now, rate_wait_until_);
      metrics_.rate_limit_waits.Add({{"limit", limit}})
          .Increment(std::chrono::duration<double>(until - from).count());
      rate_wait_until_ = until;
    }
    wake = std::min(wake, until);
  }

  void start(std::unique_ptr<Request> req, const std::shared_ptr<const std::string>& auth) {
    CURL* easy = nullptr;
    if (!idle_handles_.empty()) {
      easy = idle_handles_.back();
      idle_handles_.pop_back();
      curl_easy_reset(easy);
    } else {
      easy = curl_easy_init();
    }
    if (easy == nullptr) {
      fail_unsent(*req, "curl_easy_init failed");
      return;
    }
    const Inlet& inlet = inlets_[req->inlet];
    req->headers = curl_slist_append(nullptr, "Content-Type: application/json");
    req->headers = curl_slist_append(req->headers, "Expect:");  // no 100-continue round trip
    if (auth) {
      req->headers = curl_slist_append(req->headers, auth->c_str());
    }
    curl_easy_setopt(easy, CURLOPT_URL, inlet.url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req->body.size()));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Worker::on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, req.get());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Worker::on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, req.get());
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg_.request_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(cfg_.connect_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, cfg_.tls_verify ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, cfg_.tls_verify ? 2L : 0L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                     cfg_.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    // With HTTP/2, wait for a connection being set up instead of opening one per request.
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    if (!cfg_.ca_file.empty()) {
      curl_easy_setopt(easy, CURLOPT_CAINFO, cfg_.ca_file.c_str());
    }
    if (!cfg_.proxy.empty()) {
      curl_easy_setopt(easy, CURLOPT_PROXY, cfg_.proxy.c_str());
    }
    metrics_.batch_messages.Observe(static_cast<double>(req->items.size()));
    metrics_.batch_bytes.Observe(static_cast<double>(req->body.size()));
    req->started = Clock::now();
    if (const CURLMcode mc = curl_multi_add_handle(multi_, easy); mc != CURLM_OK) {
      curl_slist_free_all(req->headers);
      req->headers = nullptr;
      idle_handles_.push_back(easy);
      fail_unsent(*req, curl_multi_strerror(mc));
      return;
    }
    requests_.emplace(easy, std::move(req));
    metrics_.inflight_requests.Set(static_cast<double>(requests_.size()));
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* req = static_cast<Request*>(user);
    const std::size_t len = size * n;
    if (req->response.size() + len > kMaxResponseBytes) {
      return len;  // keep reading, stop keeping: the head decides
    }
    req->response.append(data, len);
    return len;
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* req = static_cast<Request*>(user);
    const std::string_view line(data, size * n);
    constexpr std::string_view kName = "retry-after:";
    if (line.size() > kName.size() &&
        std::equal(kName.begin(), kName.end(), line.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      std::string_view v = line.substr(kName.size());
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) {
        v.remove_suffix(1);
      }
      req->retry_after.assign(v);
    }
    return size * n;
  }

  void finished(CURL* easy, CURLcode rc) {
    auto node = requests_.extract(easy);
    curl_multi_remove_handle(multi_, easy);
    idle_handles_.push_back(easy);
    metrics_.inflight_requests.Set(static_cast<double>(requests_.size()));
    std::unique_ptr<Request> req = std::move(node.mapped());
    curl_slist_free_all(req->headers);
    req->headers = nullptr;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    const auto now = Clock::now();
    metrics_.request_seconds.Observe(std::chrono::duration<double>(now - req->started).count());
    const Transport transport = transport_of(rc);
    Inlet& inlet = inlets_[req->inlet];
    metrics_.requests
        .Add({{"inlet", inlet.name}, {"status", std::string(status_label(transport, status))}})
        .Increment();
    reachable_.store(transport == Transport::ok, std::memory_order_relaxed);
    for (const Item& item : req->items) {
      partitions_[item.partition].busy = false;
    }
    const Classification c = classify_request(transport, static_cast<int>(status));
    switch (c.action) {
      case Action::accept:
        accepted_request(*req, status);
        return;
      case Action::split:
        split(*req, c);
        return;
      case Action::reauth:
        reauth(*req, c, now);
        return;
      case Action::reject: {
        const std::string text =
            fmt::format("HTTP {} from Platform: {}", status, error_message(req->response));
        warn(inlet, c.reason, text);
        for (Item& item : req->items) {
          answer(item, sink::Verdict::rejected, c.reason, text, milliseconds(0));
        }
        return;
      }
      case Action::retry: {
        const std::string text =
            transport == Transport::ok
                ? fmt::format("HTTP {} from Platform: {}", status, error_message(req->response))
                : fmt::format("{} ({})", curl_easy_strerror(rc), inlet.name);
        warn(inlet, c.reason, text);
        const auto after = parse_retry_after(req->retry_after, std::chrono::system_clock::now(),
                                             cfg_.retry_after_max)
                               .value_or(milliseconds(0));
        for (Item& item : req->items) {
          retry(item, c.reason, text, after);
        }
        return;
      }
    }
  }

  void accepted_request(Request& req, long status) {
    Inlet& inlet = inlets_[req.inlet];
    inlet.refusals = 0;
    inlet.failing->Set(0);
    auto parsed = parse_batch_response(req.response);
    if (!parsed) {
      if (status == 200 && req.response.find("\"responses\"") == std::string::npos &&
          (req.response.find("\"xactionId\"") != std::string::npos ||
           req.response.find("\"inletId\"") != std::string::npos)) {
        // Platform's single-message shape: everything was received. A 200 without it (a proxy's
        // HTML page, an empty body) proves nothing and is retried below.
        for (Item& item : req.items) {
          inlet.accepted->Increment();
          answer(item, sink::Verdict::delivered, {}, {}, milliseconds(0));
        }
        return;
      }
      // Unknown fate: resend (deterministic _id makes a duplicate harmless).
      const std::string text = fmt::format("unreadable {} answer: {}", status, parsed.error());
      warn(inlet, "platform-bad-response", text);
      for (Item& item : req.items) {
        retry(item, "platform-bad-response", text, milliseconds(0));
      }
      return;
    }
    spdlog::debug("platform: batch {} on inlet {}: {} messages", parsed->batch_id, inlet.name,
                  req.items.size());
    for (std::size_t i = 0; i < req.items.size(); ++i) {
      Item& item = req.items[i];
      const MessageResult* r = i < parsed->responses.size() ? &parsed->responses[i] : nullptr;
      const Classification c = r != nullptr
                                   ? classify_message(r->status, r->has_xaction_id)
                                   : Classification{Action::retry, "platform-bad-response"};
      switch (c.action) {
        case Action::accept:
          inlet.accepted->Increment();
          failures_.erase(item.ticket);
          answer(item, sink::Verdict::delivered, {}, {}, milliseconds(0));
          break;
        case Action::retry:
          if (r != nullptr && r->status == 500 &&
              ++failures_[item.ticket] > cfg_.max_message_retries) {
            // Platform's "error processing payload": bounded, then dead-lettered (section 1.9),
            // so one poison message cannot hold its partition for ever.
            failures_.erase(item.ticket);
            answer(item, sink::Verdict::rejected, "platform-failed",
                   fmt::format("Platform answered 500 for this message {} times: {}",
                               cfg_.max_message_retries + 1, r->message),
                   milliseconds(0));
            break;
          }
          retry(item, c.reason,
                r != nullptr ? fmt::format("Platform: {} {}", r->status, r->message)
                             : std::string("no per-message answer in the 207"),
                milliseconds(0));
          break;
        case Action::reject:
        case Action::split:
          answer(item, sink::Verdict::rejected, c.reason,
                 fmt::format("Platform refused the message ({}): {}", r->status, r->message),
                 milliseconds(0));
          break;
        case Action::reauth:
          retry(item, c.reason,
                r != nullptr ? fmt::format("Platform: {} {}", r->status, r->message)
                             : std::string("no per-message answer in the 207"),
                milliseconds(0));
          break;
      }
    }
  }

  void split(Request& req, const Classification& c) {
    Inlet& inlet = inlets_[req.inlet];
    if (req.items.size() == 1) {
      const std::string text = fmt::format(
          "Platform refused a request of {} bytes holding this one message (413)", req.body.size());
      answer(req.items.front(), sink::Verdict::rejected, c.reason, text, milliseconds(0));
      return;
    }
    // Requests built before an earlier 413 lowered the cap are only resent, not counted again.
    if (req.body.size() <= inlet.cap_bytes) {
      inlet.cap_bytes = std::max<std::size_t>(kFraming + 1, req.body.size() / 2);
      spdlog::warn("platform: inlet {} answered 413 to {} bytes; requests now stay under {} bytes",
                   inlet.name, req.body.size(), inlet.cap_bytes);
    }
    metrics_.resends.Add({{"reason", "split"}}).Increment();
    requeue(req);
  }

  void reauth(Request& req, const Classification& c, Clock::time_point now) {
    Inlet& inlet = inlets_[req.inlet];
    if (inlet.authenticated && req.token_generation > inlet.refused_generation) {
      inlet.refused_generation = req.token_generation;
      ++inlet.refusals;
      tokens_->refused(req.token_generation);
      inlet.hold_until = now + cfg_.connect_timeout + cfg_.ims.timeout;
    }
    const bool again = !inlet.authenticated || inlet.refusals >= 2 || now >= inlet.hold_until;
    if (!again) {
      metrics_.resends.Add({{"reason", "reauth"}}).Increment();
      requeue(req);
      return;
    }
    // A fresh token was refused too: nothing is dropped; the partitions pause and retry, and the
    // gauge tells the operator (credentials, product profile or inlet settings).
    inlet.failing->Set(1);
    const std::string text = fmt::format("Platform refused the access token on inlet {}: {}",
                                         inlet.name, error_message(req.response));
    warn(inlet, c.reason, text);
    for (Item& item : req.items) {
      retry(item, c.reason, text, milliseconds(0));
    }
  }

  // No usable token for an authenticated inlet. Requests wait for one, but not for ever: after
  // the IMS timeout the waiting messages go back to the pipeline as retries (their partitions
  // pause and back off) and the inlet's alert gauge rises.
  void hold_without_token(std::uint32_t index, Clock::time_point now, Clock::time_point& wake) {
    Inlet& inlet = inlets_[index];
    const auto patience = cfg_.ims.timeout + cfg_.connect_timeout;
    bool waiting = false;
    for (Partition& part : partitions_) {
      if (part.busy || part.queue.empty() || part.queue.front().inlet != index) {
        continue;
      }
      waiting = true;
      if (now - part.queue.front().enqueued >= patience) {
        inlet.failing->Set(1);
        Item& front = part.queue.front();
        const std::string text = fmt::format("no IMS access token for inlet {} after {} ms",
                                             inlet.name, patience.count());
        warn(inlet, "platform-no-token", text);
        Item item = std::move(front);
        part.queue.pop_front();
        retry(item, "platform-no-token", text, milliseconds(0));
      }
    }
    if (waiting) {
      wake = std::min(wake, now + milliseconds(20));
    }
  }

  // A request that could not even be started: its messages go back to the pipeline as retries.
  void fail_unsent(Request& req, std::string_view why) {
    const std::string text = fmt::format("cannot start a request: {}", why);
    warn(inlets_[req.inlet], "platform-client", text);
    for (Item& item : req.items) {
      partitions_[item.partition].busy = false;
    }
    for (Item& item : req.items) {
      retry(item, "platform-client", text, milliseconds(0));
    }
  }

  // Puts a request's messages back at the front of their partitions, in order.
  void requeue(Request& req) {
    for (auto it = req.items.rbegin(); it != req.items.rend(); ++it) {
      partitions_[it->partition].queue.push_front(std::move(*it));
    }
  }

  // A retryable failure of `item`: it and every later message of its partition held here go
  // back to the pipeline, and the partition refuses later offsets until the re-send begins.
  void retry(Item& item, std::string_view reason, const std::string& text, milliseconds after) {
    Partition& part = partitions_[item.partition];
    part.barrier = part.barrier ? std::max(*part.barrier, item.epoch) : item.epoch;
    inlets_[item.inlet].retried->Increment();
    answer(item, sink::Verdict::retry, reason, text, after);
    for (Item& later : part.queue) {
      answer(later, sink::Verdict::retry, "platform-retry-pending", {}, after);
    }
    part.queue.clear();
  }

  void answer(Item& item, sink::Verdict verdict, std::string_view reason, std::string text,
              milliseconds after) {
    if (verdict == sink::Verdict::rejected) {
      inlets_[item.inlet].rejected->Increment();
      failures_.erase(item.ticket);
    }
    ready_local_.push_back({item.ticket, verdict, std::string(reason), std::move(text), after});
    item.message = std::string();  // release the bytes now, not when the request goes
  }

  void publish() {
    if (ready_local_.empty()) {
      return;
    }
    const std::size_t n = ready_local_.size();
    {
      const std::lock_guard lock(out_mutex_);
      for (auto& o : ready_local_) {
        ready_.push_back(std::move(o));
      }
      outstanding_.fetch_sub(n, std::memory_order_relaxed);
    }
    ready_local_.clear();
    out_ready_.notify_all();
    flushed_.notify_all();
  }

  // At most one warning per inlet and reason code every 10 s; the rest are counted in metrics.
  void warn(Inlet& inlet, std::string_view reason, const std::string& text) {
    const auto now = Clock::now();
    auto& last = last_warn_[fmt::format("{}/{}", inlet.name, reason)];
    if (now - last < std::chrono::seconds(10)) {
      spdlog::debug("platform: {} on inlet {}: {}", reason, inlet.name, text);
      return;
    }
    last = now;
    spdlog::warn("platform: {} on inlet {}: {}", reason, inlet.name, text);
  }

  const config::PlatformSinkConfig& cfg_;
  metrics::PlatformMetrics& metrics_;
  TokenSource* tokens_;
  CURLM* multi_;
  std::vector<Inlet> inlets_;
  std::vector<Partition> partitions_;
  std::size_t cursor_ = 0;
  std::uint32_t inlet_cursor_ = 0;
  std::vector<std::pair<std::uint32_t, std::size_t>> plan_;
  std::unordered_set<std::uint64_t> keys_;           // order keys in the request being planned
  std::unordered_map<std::uint64_t, int> failures_;  // per-message 500s by ticket
  std::unordered_map<CURL*, std::unique_ptr<Request>> requests_;
  std::vector<CURL*> idle_handles_;
  std::vector<sink::Outcome> ready_local_;
  std::map<std::string, Clock::time_point> last_warn_;
  Clock::time_point rate_wait_until_{};

  std::mutex in_mutex_;
  std::vector<Item> incoming_;
  bool stop_ = false;

  std::mutex out_mutex_;
  std::condition_variable out_ready_;
  std::condition_variable flushed_;
  std::vector<sink::Outcome> ready_;
  std::atomic<std::size_t> outstanding_{0};
  std::atomic<bool> flushing_{false};
  std::atomic<bool> reachable_{true};

  std::thread thread_;
};

core::Result<std::unique_ptr<PlatformSink>> PlatformSink::create(
    const config::PlatformSinkConfig& cfg, metrics::Metrics& metrics) {
  if (cfg.inlets.empty()) {
    return core::fail(core::ErrorKind::fatal, "sink-config", "the platform sink has no inlet");
  }
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) {
    return core::fail(core::ErrorKind::fatal, "sink-init", curl_easy_strerror(global));
  }
  return std::unique_ptr<PlatformSink>(new PlatformSink(cfg, metrics));
}

PlatformSink::PlatformSink(const config::PlatformSinkConfig& cfg, metrics::Metrics& metrics)
    : cfg_(cfg), metrics_(metrics.platform) {
  const bool any_auth = std::any_of(cfg_.inlets.begin(), cfg_.inlets.end(),
                                    [](const config::PlatformInlet& i) { return i.authenticated; });
  if (any_auth) {
    tokens_ = std::make_unique<TokenSource>(cfg_.ims, cfg_, metrics_);
  }
  worker_ = std::make_unique<Worker>(cfg_, metrics_, tokens_.get());
}

PlatformSink::~PlatformSink() = default;

std::uint32_t PlatformSink::partition_id(std::string_view topic, std::int32_t partition) {
  const auto key = std::make_pair(std::string(topic), partition);
  auto it = partition_ids_.find(key);
  if (it == partition_ids_.end()) {
    it = partition_ids_.emplace(key, static_cast<std::uint32_t>(partition_ids_.size())).first;
  }
  return it->second;
}

std::uint32_t PlatformSink::inlet_of(const transforms::Target* target) {
  if (auto it = target_inlets_.find(target); it != target_inlets_.end()) {
    return it->second;
  }
  // Config validation guarantees a match for declared targets; anything else takes the inlet
  // named "default", else the first.
  std::uint32_t index = 0;
  const std::string_view want = target->inlet.empty() ? "default" : target->inlet;
  for (std::uint32_t i = 0; i < cfg_.inlets.size(); ++i) {
    if (cfg_.inlets[i].name == want) {
      index = i;
      break;
    }
  }
  target_inlets_.emplace(target, index);
  return index;
}

void PlatformSink::send(std::span<const sink::Message> messages) {
  std::vector<Item> items;
  items.reserve(messages.size());
  transforms::xdm::Writer writer;
  const transforms::xdm::MessageContext context{cfg_.ims_org_id, cfg_.source_name};
  const auto now = Clock::now();
  const std::size_t limit = static_cast<std::size_t>(cfg_.max_request_bytes) - kFraming;
  for (const auto& m : messages) {
    writer.reset();
    transforms::xdm::write_streaming_message(writer, *m.target, context, m.body);
    const std::string_view wrapped = writer.view();
    if (wrapped.size() > limit) {
      metrics_.messages
          .Add({{"inlet", cfg_.inlets[inlet_of(m.target)].name}, {"outcome", "too_large"}})
          .Increment();
      worker_->answer_now({m.ticket, sink::Verdict::rejected, "platform-too-large",
                           fmt::format("the streaming message is {} bytes; a Platform request "
                                       "holds at most {} (sink.platform.batch.max_bytes)",
                                       wrapped.size(), cfg_.max_request_bytes),
                           milliseconds(0)});
      continue;
    }
    std::uint64_t order_key = 0;
    if (!m.key.empty()) {
      order_key = std::hash<std::string_view>{}(m.key) * 0x9E3779B97F4A7C15ULL ^
                  std::hash<const void*>{}(m.target);
      order_key += order_key == 0 ? 1 : 0;
    }
    items.push_back({m.ticket, std::string(wrapped),
                     partition_id(m.source_topic, m.source_partition), m.source_offset, m.epoch,
                     order_key, inlet_of(m.target), now});
  }
  worker_->add_outstanding(items.size());
  worker_->submit(items);
}

void PlatformSink::poll(std::vector<sink::Outcome>& out, milliseconds wait) {
  worker_->collect(out, wait);
}

bool PlatformSink::flush(milliseconds deadline) {
  return worker_->flush(deadline);
}

bool PlatformSink::release(std::span<const sink::PartitionRef> /*partitions*/,
                           milliseconds deadline) {
  // TODO(issue 11): drop the released partitions' queued messages instead of waiting for all.
  return worker_->flush(deadline);
}

bool PlatformSink::ready() const {
  if (!worker_->reachable()) {
    return false;
  }
  return !tokens_ || tokens_->current().header != nullptr;
}

}  // namespace bridge::platform

#include "bridge/platform/worker.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <unordered_set>

#include "bridge/core/fatal.h"
#include "bridge/platform/response.h"
#include "bridge/platform/retry_after.h"
#include "bridge/platform/token.h"

namespace bridge::platform {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kOpen = R"({"messages":[)";
constexpr std::string_view kClose = "]}";
constexpr std::size_t kFraming = kOpen.size() + kClose.size();
constexpr std::size_t kMaxResponseBytes = 4 * 1024 * 1024;
// Platform's documented request limit (reference section 1.10): a 413 for a body under it is not
// Platform's verdict on the message but a limit in the path (a proxy, a gateway).
constexpr std::size_t kPlatformRequestLimit = 1000 * 1000;
// A cap lowered by 413s is restored this long after the last one (the proxy may be fixed).
constexpr auto kCapRecovery = std::chrono::seconds(60);

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

BreakerSettings breaker_settings(const config::PlatformSinkConfig& cfg) {
  return {cfg.breaker.window, cfg.breaker.min_messages, cfg.breaker.max_dead_letter_ratio,
          cfg.breaker.cooldown};
}

// Which keys of which partitions had a retryable verdict earlier in the request being settled:
// a later message of such a key must not be delivered ahead of its resend.
class FailedKeys {
 public:
  void add(const Item& item) {
    auto& f = by_partition_[item.partition];
    if (item.order_key == 0) {
      f.partition_wide = true;
    } else {
      f.keys.insert(item.order_key);
    }
  }
  [[nodiscard]] bool holds_back(const Item& item) const {
    const auto it = by_partition_.find(item.partition);
    if (it == by_partition_.end()) {
      return false;
    }
    // The partition key (0) orders against every key of its partition, both ways.
    return it->second.partition_wide || item.order_key == 0 ||
           it->second.keys.contains(item.order_key);
  }

 private:
  struct Failed {
    bool partition_wide = false;
    std::unordered_set<std::uint64_t> keys;
  };
  std::unordered_map<std::uint32_t, Failed> by_partition_;
};

}  // namespace

Worker::Worker(const config::PlatformSinkConfig& cfg, metrics::PlatformMetrics& metrics,
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
    inlet.breaker = Breaker(breaker_settings(cfg));
    inlet.accepted = &metrics.messages.Add({{"inlet", in.name}, {"outcome", "accepted"}});
    inlet.rejected = &metrics.messages.Add({{"inlet", in.name}, {"outcome", "rejected"}});
    inlet.retried = &metrics.messages.Add({{"inlet", in.name}, {"outcome", "retry"}});
    inlet.resent_after_accept =
        &metrics.messages.Add({{"inlet", in.name}, {"outcome", "resent_after_accept"}});
    inlet.failing = &metrics.auth_failing.Add({{"inlet", in.name}});
    inlet.breaker_open = &metrics.breaker_open.Add({{"inlet", in.name}});
    inlet.body_limit_refusals = &metrics.body_limit_refusals.Add({{"inlet", in.name}});
    inlet.body_limit_failing = &metrics.body_limit_failing.Add({{"inlet", in.name}});
    inlets_.push_back(std::move(inlet));
  }
  thread_ = std::thread([this] { core::run_guarded("platform-sink", [this] { run(); }); });
}

Worker::~Worker() {
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

void Worker::submit(std::vector<Item>& items) {
  {
    const std::lock_guard lock(in_mutex_);
    for (auto& item : items) {
      incoming_.push_back(std::move(item));
    }
  }
  items.clear();
  curl_multi_wakeup(multi_);
}

void Worker::answer_now(sink::Outcome outcome) {
  const std::lock_guard lock(out_mutex_);
  ready_.push_back(std::move(outcome));
}

void Worker::collect(std::vector<sink::Outcome>& out, milliseconds wait) {
  std::unique_lock lock(out_mutex_);
  if (ready_.empty() && wait.count() > 0) {
    out_ready_.wait_for(lock, wait, [this] { return !ready_.empty(); });
  }
  for (auto& o : ready_) {
    out.push_back(std::move(o));
  }
  ready_.clear();
}

bool Worker::flush(milliseconds deadline) {
  flushing_.store(true, std::memory_order_relaxed);
  curl_multi_wakeup(multi_);
  std::unique_lock lock(out_mutex_);
  const bool done = flushed_.wait_for(
      lock, deadline, [this] { return outstanding_.load(std::memory_order_relaxed) == 0; });
  flushing_.store(false, std::memory_order_relaxed);
  return done;
}

bool Worker::release(std::vector<std::uint32_t> partitions, milliseconds deadline) {
  auto r = std::make_shared<Release>();
  r->partitions = std::move(partitions);
  const auto released = [&r](const Item& item) {
    return std::find(r->partitions.begin(), r->partitions.end(), item.partition) !=
           r->partitions.end();
  };
  std::size_t removed = 0;
  {
    // Not yet seen by the worker: dropped here. The release request travels in the same queue,
    // so the worker applies it before anything sent after it (a re-assignment).
    const std::lock_guard lock(in_mutex_);
    const auto from = std::stable_partition(incoming_.begin(), incoming_.end(),
                                            [&](const Item& item) { return !released(item); });
    for (auto it = from; it != incoming_.end(); ++it) {
      unhold(it->message.size());
    }
    removed = static_cast<std::size_t>(incoming_.end() - from);
    incoming_.erase(from, incoming_.end());
    release_requests_.push_back(r);
  }
  curl_multi_wakeup(multi_);
  std::unique_lock lock(out_mutex_);
  outstanding_.fetch_sub(removed, std::memory_order_relaxed);
  flushed_.notify_all();
  if (flushed_.wait_for(lock, deadline, [&r] { return r->done; })) {
    return true;
  }
  r->abandoned = true;
  spdlog::warn(
      "platform: released {} partition(s) with {} request(s) carrying them still in flight "
      "after {} ms; their answers are ignored",
      r->partitions.size(), r->in_flight, deadline.count());
  return false;
}

void Worker::run() {
  std::vector<Item> arrived;
  std::vector<std::shared_ptr<Release>> releases;
  while (true) {
    {
      const std::lock_guard lock(in_mutex_);
      if (stop_) {
        return;
      }
      arrived.swap(incoming_);
      releases.swap(release_requests_);
    }
    for (auto& r : releases) {
      apply_release(*r);
      releasing_.push_back(std::move(r));
    }
    releases.clear();
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
    check_releases();
    publish();
    if (now - pruned_at_ > std::chrono::minutes(1)) {
      // Messages the pipeline never sent again (dead-lettered with a sibling, released).
      std::erase_if(first_failure_, [&](const auto& kv) {
        return now - kv.second > 2 * cfg_.message_retry_window + std::chrono::minutes(1);
      });
      pruned_at_ = now;
    }
    // A finished request frees its partitions: dispatch again before sleeping.
    const auto timeout = std::chrono::duration_cast<milliseconds>(wake - Clock::now());
    if (!finished_any) {
      curl_multi_poll(multi_, nullptr, 0,
                      static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 1, 100)), nullptr);
    }
  }
}

void Worker::apply_release(Release& r) {
  for (const std::uint32_t pid : r.partitions) {
    if (pid >= partitions_.size()) {
      continue;
    }
    Partition& part = partitions_[pid];
    for (Item& item : part.queue) {
      drop(item);
    }
    part.queue.clear();
    part.barrier.reset();  // a re-assignment starts afresh
  }
  for (auto& [easy, req] : requests_) {
    for (Item& item : req->items) {
      if (std::find(r.partitions.begin(), r.partitions.end(), item.partition) !=
          r.partitions.end()) {
        item.released = true;
      }
    }
  }
  const std::lock_guard lock(out_mutex_);
  r.dropped = true;
}

void Worker::check_releases() {
  if (releasing_.empty()) {
    return;
  }
  bool progressed = false;
  {
    const std::lock_guard lock(out_mutex_);
    std::erase_if(releasing_, [&](const std::shared_ptr<Release>& r) {
      if (r->abandoned) {
        return true;
      }
      std::size_t carrying = 0;
      for (const auto& [easy, req] : requests_) {
        if (std::any_of(req->items.begin(), req->items.end(),
                        [](const Item& item) { return item.released; })) {
          ++carrying;
        }
      }
      r->in_flight = carrying;
      if (carrying == 0) {
        r->done = true;
        progressed = true;
        return true;
      }
      return false;
    });
  }
  if (progressed) {
    flushed_.notify_all();
  }
}

void Worker::accept_item(Item item) {
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

void Worker::dispatch(Clock::time_point now, Clock::time_point& wake) {
  const bool flushing = flushing_.load(std::memory_order_relaxed);
  const auto n = static_cast<std::uint32_t>(inlets_.size());
  inlet_cursor_ = (inlet_cursor_ + 1) % n;  // no inlet can take every slot for good
  for (std::uint32_t k = 0; k < n; ++k) {
    const std::uint32_t i = (inlet_cursor_ + k) % n;
    if (requests_.size() >= static_cast<std::size_t>(cfg_.concurrency)) {
      return;
    }
    Inlet& inlet = inlets_[i];
    if (inlet.breaker.holding(now)) {
      hold_for_breaker(i);
      continue;
    }
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
bool Worker::dispatch_one(std::uint32_t index, Clock::time_point now, bool flushing,
                          Clock::time_point& wake, const std::shared_ptr<const std::string>& auth,
                          std::uint64_t generation) {
  Inlet& inlet = inlets_[index];
  const auto configured_cap = static_cast<std::size_t>(cfg_.max_request_bytes);
  if (inlet.cap_bytes < configured_cap && now - inlet.cap_lowered_at > kCapRecovery) {
    inlet.cap_bytes = configured_cap;
  }
  const std::size_t cap = inlet.cap_bytes;
  // The partitions with work share the connections: a request takes at most its share of them,
  // so one hung request holds only the partitions it carries.
  const std::size_t with_work = static_cast<std::size_t>(
      std::count_if(partitions_.begin(), partitions_.end(),
                    [](const Partition& p) { return p.busy || !p.queue.empty(); }));
  const auto slots = static_cast<std::size_t>(cfg_.concurrency);
  const std::size_t max_partitions = std::max<std::size_t>(1, (with_work + slots - 1) / slots);
  std::size_t limit = static_cast<std::size_t>(cfg_.max_messages);
  // Plan: which idle partitions contribute how many leading messages. Consecutive messages of
  // one key may share a request: settling the answer keeps their order (accepted_request).
  std::size_t bytes = kFraming;
  std::size_t count = 0;
  Clock::time_point oldest = Clock::time_point::max();
  plan_.clear();
  bool full = false;
  const std::size_t n = partitions_.size();
  for (std::size_t k = 0; k < n && !full && plan_.size() < max_partitions; ++k) {
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
      const std::size_t item_limit = item.max_batch > 0 ? std::min(limit, item.max_batch) : limit;
      const std::size_t add = item.message.size() + (count > 0 ? 1 : 0);
      if (count >= item_limit || (bytes + add > cap && count > 0)) {
        full = true;
        break;
      }
      limit = item_limit;
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
      Item& item = part.queue.front();
      item.body_at = req->body.size();
      item.body_len = item.message.size();
      req->body.append(item.message);
      unhold(item.message.size());
      item.message = std::string();  // the body holds the bytes now
      req->items.push_back(std::move(item));
      part.queue.pop_front();
    }
  }
  req->body.append(kClose);
  hold(req->body.size());
  cursor_ = n > 0 ? (cursor_ + 1) % n : 0;
  start(std::move(req), auth);
  return true;
}

void Worker::note_rate_wait(const char* limit, std::chrono::nanoseconds w, Clock::time_point now,
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

void Worker::start(std::unique_ptr<Request> req, const std::shared_ptr<const std::string>& auth) {
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
  if (cfg_.low_speed_limit > 0) {
    // libcurl counts whole seconds.
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(cfg_.low_speed_limit));
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>((cfg_.low_speed_time.count() + 999) / 1000));
  }
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, cfg_.tls_verify ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, cfg_.tls_verify ? 2L : 0L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                   cfg_.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
  // With HTTP/2, wait for a connection being set up instead of opening one per request. Only
  // over TLS, where ALPN settles multiplexing in the handshake: over plain HTTP libcurl would
  // hold every other request until the first one is answered, so one hung request stalls all.
  if (cfg_.http2 && inlet.url.starts_with("https://")) {
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
  }
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

std::size_t Worker::on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* req = static_cast<Request*>(user);
  const std::size_t len = size * n;
  if (req->response.size() + len > kMaxResponseBytes) {
    return len;  // keep reading, stop keeping: the head decides
  }
  req->response.append(data, len);
  return len;
}

std::size_t Worker::on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* req = static_cast<Request*>(user);
  const std::string_view line(data, size * n);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() &&
      std::equal(kName.begin(), kName.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    std::string_view v = line.substr(kName.size());
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) {
      v.remove_suffix(1);
    }
    req->retry_after.assign(v);
  }
  return size * n;
}

void Worker::finished(CURL* easy, CURLcode rc) {
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
  for (const Item& item : req->items) {
    partitions_[item.partition].busy = false;
  }
  settle(*req, rc, status, now);
  unhold(req->body.size());
}

void Worker::settle(Request& req, CURLcode rc, long status, Clock::time_point now) {
  const Transport transport = transport_of(rc);
  Inlet& inlet = inlets_[req.inlet];
  metrics_.requests
      .Add({{"inlet", inlet.name}, {"status", std::string(status_label(transport, status))}})
      .Increment();
  reachable_.store(transport == Transport::ok, std::memory_order_relaxed);
  const Classification c = classify_request(transport, static_cast<int>(status));
  switch (c.action) {
    case Action::accept:
      accepted_request(req, status, now);
      return;
    case Action::split:
      split(req, c);
      return;
    case Action::reauth:
      reauth(req, c, now);
      return;
    case Action::reject:
      rejected_request(req, c, status, now);
      return;
    case Action::retry: {
      const std::string text =
          transport == Transport::ok
              ? fmt::format("HTTP {} from Platform: {}", status, error_message(req.response))
              : fmt::format("{} ({})", curl_easy_strerror(rc), inlet.name);
      warn(inlet, c.reason, text);
      const auto after =
          parse_retry_after(req.retry_after, std::chrono::system_clock::now(), cfg_.retry_after_max)
              .value_or(milliseconds(0));
      for (Item& item : req.items) {
        retry(item, c.reason, text, after);
      }
      return;
    }
  }
}

void Worker::accepted_request(Request& req, long status, Clock::time_point now) {
  Inlet& inlet = inlets_[req.inlet];
  inlet.refusals = 0;
  inlet.failing->Set(0);
  inlet.body_limit_failing->Set(0);
  auto parsed = parse_batch_response(req.response);
  if (!parsed) {
    if (status == 200 && req.response.find("\"responses\"") == std::string::npos &&
        (req.response.find("\"xactionId\"") != std::string::npos ||
         req.response.find("\"inletId\"") != std::string::npos)) {
      // Platform's single-message shape: everything was received. A 200 without it (a proxy's
      // HTML page, an empty body) proves nothing and is retried below.
      for (Item& item : req.items) {
        inlet.accepted->Increment();
        inlet.breaker.record(false, now);
        answer(item, sink::Verdict::delivered, {}, {}, milliseconds(0));
      }
      inlet.breaker.probe(0, static_cast<std::int64_t>(req.items.size()), now);
      note_breaker(inlet);
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
  // Walking in request order: once a message of a key gets a retryable verdict, every later
  // message of that key in this request is answered retry too, even if Platform took it, so the
  // pipeline's resend puts the last copy of each in order.
  FailedKeys failed;
  std::int64_t dead = 0;
  std::int64_t total = 0;
  for (std::size_t i = 0; i < req.items.size(); ++i) {
    Item& item = req.items[i];
    const MessageResult* r = i < parsed->responses.size() ? &parsed->responses[i] : nullptr;
    const Classification c = r != nullptr ? classify_message(r->status, r->has_xaction_id)
                                          : Classification{Action::retry, "platform-bad-response"};
    const std::string platform_text = r != nullptr
                                          ? fmt::format("Platform: {} {}", r->status, r->message)
                                          : std::string("no per-message answer in the 207");
    switch (c.action) {
      case Action::accept:
        ++total;
        inlet.breaker.record(false, now);
        first_failure_.erase(item.ticket);
        if (failed.holds_back(item)) {
          inlet.resent_after_accept->Increment();
          retry(item, "platform-order",
                "accepted, but an earlier message of its ordering key was not: sent again after "
                "it",
                milliseconds(0));
          failed.add(item);
          break;
        }
        inlet.accepted->Increment();
        answer(item, sink::Verdict::delivered, {}, {}, milliseconds(0));
        break;
      case Action::retry:
      case Action::reauth:
        if (r != nullptr && r->status == 500) {
          // Platform's "error processing payload": retried for the configured window from the
          // first 500, then dead-lettered (section 1.9), so one poison message cannot hold its
          // key for ever while an outage of any length still loses nothing.
          const auto first = first_failure_.try_emplace(item.ticket, now).first->second;
          if (now - first >= cfg_.message_retry_window) {
            ++total;
            ++dead;
            const auto waited = std::chrono::duration_cast<milliseconds>(now - first);
            if (!reject(item, "platform-failed",
                        fmt::format("Platform answered 500 for this message for {} ms: {}",
                                    waited.count(), r->message),
                        now)) {
              failed.add(item);
            }
            break;
          }
        }
        retry(item, c.reason, platform_text, milliseconds(0));
        failed.add(item);
        break;
      case Action::reject:
      case Action::split:
        ++total;
        ++dead;
        if (!reject(item, c.reason,
                    fmt::format("Platform refused the message ({}): {}",
                                r != nullptr ? r->status : 0, r != nullptr ? r->message : ""),
                    now)) {
          failed.add(item);
        }
        break;
    }
  }
  inlet.breaker.probe(dead, total, now);
  note_breaker(inlet);
}

void Worker::rejected_request(Request& req, const Classification& c, long status,
                              Clock::time_point now) {
  Inlet& inlet = inlets_[req.inlet];
  const std::string text =
      fmt::format("HTTP {} from Platform: {}", status, error_message(req.response));
  const auto live = static_cast<std::size_t>(std::count_if(
      req.items.begin(), req.items.end(), [](const Item& item) { return !item.released; }));
  if (c.reason == "platform-rejected" && live > 1) {
    // Platform refused the request as a whole (a message it cannot read makes the batch
    // unreadable): bisect. The messages go back to the front of their partitions, in order, and
    // no request holding one of them may hold more than half as many, until the offending
    // messages are alone and dead-lettered and the rest delivered.
    const std::size_t half = (req.items.size() + 1) / 2;
    for (Item& item : req.items) {
      item.max_batch = item.max_batch > 0 ? std::min(item.max_batch, half) : half;
    }
    metrics_.resends.Add({{"reason", "bisect"}}).Increment();
    spdlog::debug("platform: inlet {} refused a request of {} messages ({}); bisecting", inlet.name,
                  req.items.size(), text);
    requeue(req);
    return;
  }
  warn(inlet, c.reason, text);
  std::int64_t dead = 0;
  for (Item& item : req.items) {
    ++dead;
    reject(item, c.reason, text, now);
  }
  inlet.breaker.probe(dead, dead, now);
  note_breaker(inlet);
}

void Worker::split(Request& req, const Classification& c) {
  Inlet& inlet = inlets_[req.inlet];
  const auto now = Clock::now();
  if (req.items.size() == 1) {
    Item& item = req.items.front();
    if (req.body.size() > kPlatformRequestLimit) {
      const std::string text = fmt::format(
          "Platform refused a request of {} bytes holding this one message (413)", req.body.size());
      reject(item, c.reason, text, now);
      inlet.breaker.probe(1, 1, now);
      note_breaker(inlet);
      return;
    }
    // Under Platform's limit: something in the path (a proxy, a gateway) has a smaller one.
    // Not a verdict on the message: retried with backoff while the gauge raises the alert.
    inlet.body_limit_refusals->Increment();
    inlet.body_limit_failing->Set(1);
    const std::string text = fmt::format(
        "413 for a request of {} bytes holding one message, under Platform's 1,000,000-byte "
        "limit: a body limit in the path (proxy?) on inlet {}; retrying",
        req.body.size(), inlet.name);
    warn(inlet, "platform-body-limit", text);
    retry(item, "platform-body-limit", text, milliseconds(0));
    return;
  }
  // Requests built before an earlier 413 lowered the cap are only resent, not counted again.
  if (req.body.size() <= inlet.cap_bytes) {
    inlet.cap_bytes = std::max<std::size_t>(kFraming + 1, req.body.size() / 2);
    inlet.cap_lowered_at = now;
    spdlog::warn("platform: inlet {} answered 413 to {} bytes; requests now stay under {} bytes",
                 inlet.name, req.body.size(), inlet.cap_bytes);
  }
  metrics_.resends.Add({{"reason", "split"}}).Increment();
  requeue(req);
}

void Worker::reauth(Request& req, const Classification& c, Clock::time_point now) {
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
void Worker::hold_without_token(std::uint32_t index, Clock::time_point now,
                                Clock::time_point& wake) {
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
      const std::string text =
          fmt::format("no IMS access token for inlet {} after {} ms", inlet.name, patience.count());
      warn(inlet, "platform-no-token", text);
      Item item = std::move(part.queue.front());
      part.queue.pop_front();
      retry(item, "platform-no-token", text, milliseconds(0));
    }
  }
  if (waiting) {
    wake = std::min(wake, now + milliseconds(20));
  }
}

// The inlet's breaker is cooling down: nothing is sent; waiting messages go back as retries.
void Worker::hold_for_breaker(std::uint32_t index) {
  for (Partition& part : partitions_) {
    if (part.busy || part.queue.empty() || part.queue.front().inlet != index) {
      continue;
    }
    Item item = std::move(part.queue.front());
    part.queue.pop_front();
    retry(item, "platform-breaker-open",
          fmt::format("the dead-letter breaker of inlet {} is open", inlets_[index].name),
          milliseconds(0));
  }
}

// A request that could not even be started: its messages go back to the pipeline as retries.
void Worker::fail_unsent(Request& req, std::string_view why) {
  const std::string text = fmt::format("cannot start a request: {}", why);
  warn(inlets_[req.inlet], "platform-client", text);
  for (Item& item : req.items) {
    partitions_[item.partition].busy = false;
  }
  for (Item& item : req.items) {
    retry(item, "platform-client", text, milliseconds(0));
  }
  unhold(req.body.size());
}

// Puts a request's messages back at the front of their partitions, in order, their bytes copied
// back out of the body. Messages of released partitions are dropped instead.
void Worker::requeue(Request& req) {
  for (auto it = req.items.rbegin(); it != req.items.rend(); ++it) {
    if (it->released) {
      drop(*it);
      continue;
    }
    it->message.assign(req.body, it->body_at, it->body_len);
    hold(it->body_len);
    partitions_[it->partition].queue.push_front(std::move(*it));
  }
}

// A retryable failure of `item`: it and every later message of its partition held here go
// back to the pipeline, and the partition refuses later offsets until the re-send begins.
void Worker::retry(Item& item, std::string_view reason, const std::string& text,
                   milliseconds after) {
  inlets_[item.inlet].retried->Increment();
  if (item.released) {
    answer(item, sink::Verdict::retry, reason, text, after);  // ignored by the pipeline
    return;
  }
  Partition& part = partitions_[item.partition];
  part.barrier = part.barrier ? std::max(*part.barrier, item.epoch) : item.epoch;
  answer(item, sink::Verdict::retry, reason, text, after);
  for (Item& later : part.queue) {
    answer(later, sink::Verdict::retry, "platform-retry-pending", {}, after);
  }
  part.queue.clear();
}

bool Worker::reject(Item& item, std::string_view reason, std::string text, Clock::time_point now) {
  Inlet& inlet = inlets_[item.inlet];
  inlet.breaker.record(true, now);
  if (inlet.breaker.open()) {
    note_breaker(inlet);
    retry(item, "platform-breaker-open",
          fmt::format("{} [{}; held back: the dead-letter breaker of inlet {} is open]", text,
                      reason, inlet.name),
          milliseconds(0));
    return false;
  }
  answer(item, sink::Verdict::rejected, reason, std::move(text), milliseconds(0));
  return true;
}

void Worker::answer(Item& item, sink::Verdict verdict, std::string_view reason, std::string text,
                    milliseconds after) {
  if (verdict == sink::Verdict::rejected) {
    inlets_[item.inlet].rejected->Increment();
  }
  if (verdict != sink::Verdict::retry) {
    first_failure_.erase(item.ticket);
  }
  ready_local_.push_back({item.ticket, verdict, std::string(reason), std::move(text), after});
  unhold(item.message.size());
  item.message = std::string();  // release the bytes now, not when the request goes
}

// A released message: no outcome is owed.
void Worker::drop(Item& item) {
  unhold(item.message.size());
  item.message = std::string();
  first_failure_.erase(item.ticket);
  ++dropped_local_;
}

void Worker::note_breaker(Inlet& inlet) {
  switch (inlet.breaker.take_change()) {
    case 1:
      inlet.breaker_open->Set(1);
      spdlog::error(
          "platform: inlet {}: more than {:.0f}% of the messages Platform answered in the last {} "
          "ms would be dead-lettered; the dead-letter breaker is open: they are retried (their "
          "partitions pause) instead, and requests stop for {} ms before a probe",
          inlet.name, cfg_.breaker.max_dead_letter_ratio * 100, cfg_.breaker.window.count(),
          cfg_.breaker.cooldown.count());
      break;
    case -1:
      inlet.breaker_open->Set(0);
      spdlog::info("platform: inlet {}: a probe succeeded; the dead-letter breaker is closed",
                   inlet.name);
      break;
    default:
      break;
  }
}

void Worker::publish() {
  if (ready_local_.empty() && dropped_local_ == 0) {
    return;
  }
  const std::size_t n = ready_local_.size() + dropped_local_;
  {
    const std::lock_guard lock(out_mutex_);
    for (auto& o : ready_local_) {
      ready_.push_back(std::move(o));
    }
    outstanding_.fetch_sub(n, std::memory_order_relaxed);
  }
  ready_local_.clear();
  dropped_local_ = 0;
  out_ready_.notify_all();
  flushed_.notify_all();
}

// At most one warning per inlet and reason code every 10 s; the rest are counted in metrics.
void Worker::warn(Inlet& inlet, std::string_view reason, const std::string& text) {
  const auto now = Clock::now();
  auto& last = last_warn_[fmt::format("{}/{}", inlet.name, reason)];
  if (now - last < std::chrono::seconds(10)) {
    spdlog::debug("platform: {} on inlet {}: {}", reason, inlet.name, text);
    return;
  }
  last = now;
  spdlog::warn("platform: {} on inlet {}: {}", reason, inlet.name, text);
}

}  // namespace bridge::platform

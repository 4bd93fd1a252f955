#include "bridge/platform/worker.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "bridge/core/fatal.h"
#include "bridge/platform/token.h"

namespace bridge::platform {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kOpen = R"({"messages":[)";
constexpr std::string_view kClose = "]}";
static_assert(kOpen.size() + kClose.size() == kRequestFraming);
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

BreakerSettings breaker_settings(const config::PlatformSinkConfig& cfg) {
  return {cfg.breaker.window, cfg.breaker.min_messages, cfg.breaker.max_dead_letter_ratio,
          cfg.breaker.cooldown};
}

}  // namespace

Worker::Worker(const config::PlatformSinkConfig& cfg, metrics::PlatformMetrics& metrics,
               TokenSource* tokens)
    : cfg_(cfg), metrics_(metrics), tokens_(tokens), transport_(cfg) {
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
    inlet.tls_failures = &metrics.tls_failures.Add({{"endpoint", in.name}});
    inlet.tls_failing = &metrics.tls_failing.Add({{"endpoint", in.name}});
    inlets_.push_back(std::move(inlet));
  }
  thread_ = std::thread([this] { core::run_guarded("platform-sink", [this] { run(); }); });
}

Worker::~Worker() {
  {
    const std::lock_guard lock(in_mutex_);
    stop_ = true;
  }
  transport_.wakeup();
  thread_.join();
}

void Worker::submit(std::vector<Item>& items) {
  {
    const std::lock_guard lock(in_mutex_);
    for (auto& item : items) {
      incoming_.push_back(std::move(item));
    }
  }
  items.clear();
  transport_.wakeup();
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
  transport_.wakeup();
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
  transport_.wakeup();
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
    ended_.clear();
    transport_.perform(ended_);
    for (HttpTransport::Exchange& exchange : ended_) {
      finished(exchange);
    }
    const bool finished_any = !ended_.empty();
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
      transport_.wait(timeout);
    }
  }
}

void Worker::apply_release(Release& r) {
  for (const std::uint32_t pid : r.partitions) {
    queues_.release(pid, spill_);
  }
  for (Item& item : spill_) {
    drop(item);
  }
  spill_.clear();
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
  if (!queues_.admit(item)) {
    // Sent before the pipeline saw this partition's retry: must not overtake it.
    answer(item, sink::Verdict::retry, "platform-retry-pending", {}, milliseconds(0));
  }
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
  plan_batch(queues_.view(), cursor_,
             {index, inlet.cap_bytes, static_cast<std::size_t>(cfg_.max_messages),
              static_cast<std::size_t>(cfg_.concurrency)},
             plan_);
  const std::size_t count = plan_.count;
  if (count == 0) {
    return false;
  }
  if (!plan_.full && !flushing && now < plan_.oldest + cfg_.linger) {
    wake = std::min(wake, plan_.oldest + cfg_.linger);
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
  req->body.reserve(plan_.bytes);
  // The body's bytes are counted before the messages' own are released: held_bytes() may
  // briefly count a message twice, never zero times.
  req->body.append(kOpen);
  hold(kOpen.size());
  for (const auto& [pid, take] : plan_.takes) {
    const std::size_t first = req->items.size();
    queues_.take(pid, take, req->items);
    for (std::size_t k = first; k < req->items.size(); ++k) {
      Item& item = req->items[k];
      const std::size_t before = req->body.size();
      if (k > 0) {
        req->body.push_back(',');
      }
      item.body_at = req->body.size();
      item.body_len = item.message.size();
      req->body.append(item.message);
      hold(req->body.size() - before);
      unhold(item.message.size());
      item.message = std::string();  // the body holds the bytes now
    }
  }
  req->body.append(kClose);
  hold(kClose.size());
  cursor_ = queues_.size() == 0 ? 0 : (cursor_ + 1) % queues_.size();
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
  req->auth = auth;
  metrics_.batch_messages.Observe(static_cast<double>(req->items.size()));
  metrics_.batch_bytes.Observe(static_cast<double>(req->body.size()));
  if (auto error =
          transport_.post(inlets_[req->inlet].url, req->auth.get(), req->body, req.get())) {
    fail_unsent(*req, *error);
    return;
  }
  const Request* key = req.get();
  requests_.emplace(key, std::move(req));
  metrics_.inflight_requests.Set(static_cast<double>(requests_.size()));
}

void Worker::finished(HttpTransport::Exchange& exchange) {
  auto node = requests_.extract(static_cast<const Request*>(exchange.tag));
  metrics_.inflight_requests.Set(static_cast<double>(requests_.size()));
  if (node.empty()) {
    return;
  }
  std::unique_ptr<Request> req = std::move(node.mapped());
  req->response = std::move(exchange.response);
  req->retry_after = std::move(exchange.retry_after);
  const auto now = Clock::now();
  metrics_.request_seconds.Observe(std::chrono::duration<double>(exchange.elapsed).count());
  for (const Item& item : req->items) {
    queues_.idle(item.partition);
  }
  settle(*req, exchange.rc, exchange.status, exchange.error, now);
  unhold(req->body.size());
}

// No usable token for an authenticated inlet. Requests wait for one, but not for ever: after
// the IMS timeout the waiting messages go back to the pipeline as retries (their partitions
// pause and back off) and the inlet's alert gauge rises.
void Worker::hold_without_token(std::uint32_t index, Clock::time_point now,
                                Clock::time_point& wake) {
  Inlet& inlet = inlets_[index];
  const auto patience = cfg_.ims.timeout + cfg_.connect_timeout;
  bool waiting = false;
  for (std::uint32_t pid = 0; pid < queues_.size(); ++pid) {
    const Item* front = queues_.waiting(pid, index);
    if (front == nullptr) {
      continue;
    }
    waiting = true;
    if (now - front->enqueued >= patience) {
      inlet.failing->Set(1);
      const std::string text =
          fmt::format("no IMS access token for inlet {} after {} ms", inlet.name, patience.count());
      warn(inlet, "platform-no-token", text);
      Item item = queues_.pop(pid);
      retry(item, "platform-no-token", text, milliseconds(0));
    }
  }
  if (waiting) {
    wake = std::min(wake, now + milliseconds(20));
  }
}

// The inlet's breaker is cooling down: nothing is sent; waiting messages go back as retries.
void Worker::hold_for_breaker(std::uint32_t index) {
  for (std::uint32_t pid = 0; pid < queues_.size(); ++pid) {
    if (queues_.waiting(pid, index) == nullptr) {
      continue;
    }
    Item item = queues_.pop(pid);
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
    queues_.idle(item.partition);
  }
  for (Item& item : req.items) {
    retry(item, "platform-client", text, milliseconds(0));
  }
  unhold(req.body.size());
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

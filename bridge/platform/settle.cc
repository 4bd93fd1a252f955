// The Platform sink worker's verdicts: what each answer (or its absence) means for the messages
// of a request, in request order, keeping each ordering key's last copy in offset order (sink.h).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <unordered_set>

#include "bridge/platform/response.h"
#include "bridge/platform/retry_after.h"
#include "bridge/platform/token.h"
#include "bridge/platform/transport.h"
#include "bridge/platform/worker.h"

namespace bridge::platform {
namespace {

using std::chrono::milliseconds;

// Platform's documented request limit (reference section 1.10): a 413 for a body under it is not
// Platform's verdict on the message but a limit in the path (a proxy, a gateway).
constexpr std::size_t kPlatformRequestLimit = 1000 * 1000;

Transport transport_of(CURLcode rc) {
  switch (rc) {
    case CURLE_OK:
      return Transport::ok;
    case CURLE_OPERATION_TIMEDOUT:
      return Transport::timeout;
    default:
      return tls_failure(rc) ? Transport::tls : Transport::connection;
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
  if (t == Transport::tls) {
    return "tls";
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
  [[nodiscard]] bool failed(std::uint32_t partition) const {
    return by_partition_.contains(partition);
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

void Worker::settle(Request& req, CURLcode rc, long status, std::string_view error,
                    Clock::time_point now) {
  const Transport transport = transport_of(rc);
  Inlet& inlet = inlets_[req.inlet];
  metrics_.requests
      .Add({{"inlet", inlet.name}, {"status", std::string(status_label(transport, status))}})
      .Increment();
  reachable_.store(transport == Transport::ok, std::memory_order_relaxed);
  if (transport == Transport::tls) {
    inlet.tls_failures->Increment();
    inlet.tls_failing->Set(1);
  } else if (transport == Transport::ok) {
    inlet.tls_failing->Set(0);  // an answer came: TLS got through
  }
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
          : transport == Transport::tls
              ? fmt::format(
                    "TLS failure with inlet {}: {}; not an outage: check the inlet URL, "
                    "sink.platform.http.ca_file or the proxy (retried until fixed, "
                    "nothing is dead-lettered)",
                    inlet.name, error)
              : fmt::format("{} ({})", error.empty() ? curl_easy_strerror(rc) : error, inlet.name);
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
  queues_.adapt(
      req.items, [&failed](std::uint32_t pid) { return failed.failed(pid); },
      static_cast<std::size_t>(cfg_.max_messages));
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
    inlet.cap_bytes = std::max<std::size_t>(kRequestFraming + 1, req.body.size() / 2);
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

// Puts a request's messages back at the front of their partitions, in order, their bytes copied
// back out of the body. Messages of released partitions are dropped instead.
void Worker::requeue(Request& req) {
  for (Item& item : req.items) {
    if (!item.released) {
      item.message.assign(req.body, item.body_at, item.body_len);
      hold(item.body_len);
    }
  }
  queues_.put_back(req.items, spill_);
  for (Item& item : spill_) {
    drop(item);
  }
  spill_.clear();
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
  queues_.bar(item.partition, item.epoch, spill_);
  answer(item, sink::Verdict::retry, reason, text, after);
  for (Item& later : spill_) {
    answer(later, sink::Verdict::retry, "platform-retry-pending", {}, after);
  }
  spill_.clear();
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

}  // namespace bridge::platform

#pragma once
// The Platform streaming sink: XDM outputs → `{"messages":[…]}` POSTs to each inlet's batch
// endpoint (reference/platform-streaming.md sections 1 and 6).
//
// Threads: send()/poll()/flush() run on the pipeline thread; one worker thread owns libcurl's
// multi handle, the per-partition queues and every request; the token thread (TokenSource)
// talks to IMS. They meet in two mutex-guarded hand-over queues (incoming messages, finished
// outcomes) and the worker is woken with curl_multi_wakeup.
//
// Order (the exact guarantee): for each ordering key within a source partition
// (sink::Message::order_key; empty: the partition is one key), the LAST copy Platform receives of
// each message is in offset order. A partition has at most one request in flight, and consecutive
// messages of one key may share it. Platform judges each message of a 207 on its own, so only a
// per-message 429/5xx (or other retryable verdict) inside a 207 can make Platform see an earlier
// copy of a later message first: walking the request in order, once a message of key K is
// answered `retry`, every later message of K in that request is answered `retry` too even when
// Platform took it (counted as messages{outcome="resent_after_accept"}), and every later message
// of the partition still queued here is answered `retry`; the pipeline re-sends them in offset
// order after the failed one. Any message of the same send epoch arriving before the re-send is
// answered `retry` too (the partition's "barrier", lifted by the re-send's newer epoch).
// Whole-request failures deliver nothing, so they never reorder.
//
// Batching: a request takes the waiting messages of idle partitions for one inlet, up to
// batch.max_bytes (the whole body) and batch.max_messages, and at most
// ceil(partitions with work / http.concurrency) partitions, so one hung request holds only its
// share of them. A partition that had per-message retries in a 207 takes half as many messages
// in its next request (doubling back after clean answers), so fewer accepted messages are held back
// and sent again while Platform fails some messages. It leaves when full, when its oldest message
// has waited batch.linger_ms, or at flush(). A message that cannot fit in a request on its own is
// rejected (dead-lettered as platform-too-large) without being sent.
//
// Failures (classify.h decides the action): a 413 halves the inlet's request cap (restored a minute
// after the last 413) and resends; a 413 for ONE message under Platform's 1,000,000 bytes is a body
// limit in the path (a proxy): retried, counted, alerting, never dead-lettered. A whole request
// Platform refuses as a client error (platform-rejected: 400, 422, 501, …; a 404 names a wrong
// inlet and is not bisected) is bisected until the refused messages are alone; only they are
// dead-lettered. A per-message 500 is retried for sink.platform.message_retry_window_ms from its
// first failure, then dead-lettered (platform-failed). The dead-letter breaker (breaker.h) turns
// would-be dead letters into retries while Platform refuses most of what it is sent.
//
// Revocation: release() drops the queued messages of the partitions (no outcome), starts nothing
// more for them, and waits until no request carrying them is in flight, within its deadline.
//
// Memory: held_bytes() counts queued messages and request bodies; a message's bytes live in one
// place at a time (its queue entry, or the body of the request carrying it).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/core/result.h"
#include "bridge/metrics/metrics.h"
#include "bridge/platform/batch.h"
#include "bridge/sink/sink.h"

namespace bridge::platform {

class TokenSource;
class Worker;

// The bytes around each entity the pipeline hands over for `target`: message = prefix + entity +
// suffix. Asked once per target; the composition root passes the XDM streaming message's
// (transforms::xdm::streaming_framing), so this sink ships bytes it does not write.
struct Framing {
  std::string prefix;
  std::string suffix;
};
using Framer = std::function<Framing(const transforms::Target& target)>;

class PlatformSink final : public sink::Sink {
 public:
  // `cfg` must outlive the sink: it is not copied (it holds the IMS secret, which exists once).
  static core::Result<std::unique_ptr<PlatformSink>> create(const config::PlatformSinkConfig& cfg,
                                                            metrics::Metrics& metrics,
                                                            Framer framer);
  ~PlatformSink() override;
  PlatformSink(const PlatformSink&) = delete;
  PlatformSink& operator=(const PlatformSink&) = delete;

  [[nodiscard]] std::string_view name() const override { return "platform"; }
  void send(std::span<const sink::Message> messages) override;
  void poll(std::vector<sink::Outcome>& out, std::chrono::milliseconds wait) override;
  [[nodiscard]] bool flush(std::chrono::milliseconds deadline) override;
  [[nodiscard]] bool ready() const override;
  [[nodiscard]] bool release(std::span<const sink::PartitionRef> partitions,
                             std::chrono::milliseconds deadline) override;
  [[nodiscard]] std::int64_t held_bytes() const override;

 private:
  // What the pipeline thread keeps per target: its inlet and its framing.
  struct TargetInfo {
    std::uint32_t inlet = 0;
    Framing framing;
  };

  PlatformSink(const config::PlatformSinkConfig& cfg, metrics::Metrics& metrics, Framer framer);
  std::uint32_t partition_id(std::string_view topic, std::int32_t partition);
  const TargetInfo& target_info(const transforms::Target* target);

  const config::PlatformSinkConfig& cfg_;
  metrics::PlatformMetrics& metrics_;
  Framer framer_;
  // Pipeline-thread state: interned partitions (the last one looked up, which is usually the
  // next one too), targets, the batch handed to the worker.
  std::map<std::pair<std::string, std::int32_t>, std::uint32_t, std::less<>> partition_ids_;
  std::string last_topic_;
  std::int32_t last_partition_ = -1;
  std::uint32_t last_partition_id_ = 0;
  std::unordered_map<const transforms::Target*, TargetInfo> targets_;
  std::vector<Item> items_;

  std::unique_ptr<TokenSource> tokens_;  // null when no inlet is authenticated
  std::unique_ptr<Worker> worker_;       // last: stops first
};

}  // namespace bridge::platform

#pragma once
// The Platform streaming sink: XDM outputs → `{"messages":[…]}` POSTs to each inlet's batch
// endpoint (reference/platform-streaming.md sections 1 and 6).
//
// Threads: send()/poll()/flush() run on the pipeline thread; one worker thread owns libcurl's
// multi handle, the per-partition queues and every request; the token thread (TokenSource)
// talks to IMS. They meet in two mutex-guarded hand-over queues (incoming messages, finished
// outcomes) and the worker is woken with curl_multi_wakeup.
//
// Order: a source partition has at most one request in flight. A retryable failure answers
// `retry` for the failed messages and for every later message of that partition the sink holds,
// and any message of the same send epoch that arrives before the pipeline re-sends is answered
// `retry` too (the partition's "barrier", lifted by the re-send's newer epoch). So a whole-request
// failure never lets a later record reach Platform ahead of an earlier one. Inside one request
// Platform judges each message on its own (a 207 may accept some and not others; those accepted
// are delivered and never resent, reference section 1.8), so a request carries at most one
// message per (partition, record key, target): a customer's later record never overtakes an
// earlier one for the same dataset. Records of different keys in one partition may.
//
// Batching: a request takes the waiting messages of every idle partition for one inlet, up to
// batch.max_bytes (the whole body) and batch.max_messages; it leaves when full, when its oldest
// message has waited batch.linger_ms, or at flush(). A message that cannot fit in a request on its
// own is rejected (dead-lettered as platform-too-large) without being sent. A 413 halves the
// inlet's request cap and resends.

#include <atomic>
#include <chrono>
#include <condition_variable>
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
#include "bridge/sink/sink.h"

namespace bridge::platform {

class TokenSource;
class Worker;

class PlatformSink final : public sink::Sink {
 public:
  static core::Result<std::unique_ptr<PlatformSink>> create(const config::PlatformSinkConfig& cfg,
                                                            metrics::Metrics& metrics);
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

 private:
  PlatformSink(const config::PlatformSinkConfig& cfg, metrics::Metrics& metrics);
  std::uint32_t partition_id(std::string_view topic, std::int32_t partition);
  std::uint32_t inlet_of(const transforms::Target* target);

  const config::PlatformSinkConfig cfg_;
  metrics::PlatformMetrics& metrics_;
  // Pipeline-thread state: interned partitions, target → inlet, the message writer.
  std::map<std::pair<std::string, std::int32_t>, std::uint32_t, std::less<>> partition_ids_;
  std::unordered_map<const transforms::Target*, std::uint32_t> target_inlets_;

  std::unique_ptr<TokenSource> tokens_;  // null when no inlet is authenticated
  std::unique_ptr<Worker> worker_;       // last: stops first
};

}  // namespace bridge::platform

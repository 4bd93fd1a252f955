#pragma once
// The webhook receiver: Capillary's Event Notification Service POSTs events; each is produced to
// Kafka and the answer is 200 only once the broker has acknowledged every event of the request
// (acks=all, idempotent producer). See bridge/receiver/README.md.
//
// Answers: 200 produced; 400 not JSON / not an object or array of objects / not UTF-8 / orgId
// differs from the path; 401 the secret header missing or wrong; 404 no such path; 405 not POST;
// 413 body over limits.max_body_bytes (431 headers over max_header_bytes, from libmicrohttpd);
// 503 + Retry-After when the event is not durable: the broker did not acknowledge within
// produce_timeout_ms or refused, the producer's queue is full, the broker is unreachable,
// max_concurrent_requests are in flight, or the receiver is shutting down.
//
// Threads: libmicrohttpd runs a thread per connection (a slow client holds only its own); one
// thread serves the producer's delivery reports and wakes the requests waiting for them; one
// checks the broker for readiness. Public methods are thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "bridge/config/config.h"
#include "bridge/core/result.h"
#include "bridge/metrics/metrics.h"

namespace bridge::receiver {

struct Counts {
  std::uint64_t events_produced = 0;  // acknowledged by the broker
  std::uint64_t requests = 0;         // answered, any status
};

class Receiver {
 public:
  // Startup: creates the producer, checks the topics exist (waiting up to `startup_wait` for
  // the broker; an unreachable broker is not an error, the receiver starts not ready), binds
  // receiver.listen and serves. A missing topic is a permanent error (code `receiver-topic`),
  // as a bad config is. `receiver` must outlive the receiver (its tokens are not copied).
  static core::Result<std::unique_ptr<Receiver>> start(
      const config::ReceiverConfig& receiver, const config::KafkaConfig& kafka,
      metrics::Metrics& metrics,
      std::chrono::milliseconds startup_wait = std::chrono::milliseconds(10000));
  ~Receiver();  // shutdown(0) if not done
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] std::string base_url() const;  // "http://127.0.0.1:<port>" (https with TLS)
  // The broker answered the last metadata check, the producer works, not shutting down.
  [[nodiscard]] bool ready() const;
  // False once the producer hit a fatal error (it can deliver nothing more: restart).
  [[nodiscard]] bool healthy() const;
  [[nodiscard]] Counts counts() const;

  // Graceful stop: closes the listening socket, answers new requests on open connections 503,
  // waits until the requests in flight are answered (at most `deadline`), then closes every
  // connection and flushes the producer. Returns false when something was still in flight at the
  // deadline (those requests were answered 503 or cut: their events may or may not be in Kafka;
  // none was acknowledged). Idempotent.
  bool shutdown(std::chrono::milliseconds deadline);
  // The same with receiver.shutdown_timeout_ms.
  bool shutdown();

  struct Impl;

 private:
  explicit Receiver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bridge::receiver

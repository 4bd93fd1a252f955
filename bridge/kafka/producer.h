#pragma once
// A librdkafka producer whose delivery reports are collected on the caller's thread: poll()
// serves the reports and returns them, so the pipeline thread sees every verdict without locks.
// Idempotent (enable.idempotence): librdkafka retries internally without reordering or
// duplicating, so a report is final.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/core/record.h"
#include "bridge/kafka/client_config.h"

namespace bridge::kafka {

struct DeliveryReport {
  std::uint64_t ticket = 0;
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  // PERSISTED with no error; a failed message may still be POSSIBLY_PERSISTED (a timeout after
  // the request was sent): the broker may have it.
  rd_kafka_msg_status_t status = RD_KAFKA_MSG_STATUS_NOT_PERSISTED;
};

// Called for each report on the thread that polls (instead of collecting them for poll()).
using ReportCallback = std::function<void(const DeliveryReport&)>;

class Producer {
 public:
  static core::Result<Producer> create(const config::KafkaConfig& cluster,
                                       const std::string& brokers,
                                       const std::map<std::string, std::string>& properties,
                                       ReportCallback on_report = {});

  // Enqueues a copy of the message; never waits (a full local queue is QUEUE_FULL). Errors that can
  // never succeed for this message (too large, unknown topic at enqueue) are returned; the caller
  // decides (sink: reject; dead letter: a reduced letter).
  [[nodiscard]] rd_kafka_resp_err_t produce(std::string_view topic, std::string_view key,
                                            std::string_view value,
                                            std::span<const core::Header> headers,
                                            std::uint64_t ticket);
  // Serves delivery reports, waiting at most `wait` when none are ready; appends to `out`.
  void poll(std::vector<DeliveryReport>& out, std::chrono::milliseconds wait);
  // Number of messages enqueued without a delivery report yet.
  [[nodiscard]] int outstanding() const { return rd_kafka_outq_len(rk_.get()); }
  [[nodiscard]] bool flush(std::chrono::milliseconds deadline);
  // For admin requests on the producer's connections (the dead-letter topic check).
  [[nodiscard]] rd_kafka_t* handle() const { return rk_.get(); }
  // A fatal error (idempotence broken: the producer can deliver nothing more); "" if none.
  [[nodiscard]] std::string fatal_error() const;
  // librdkafka reported that every broker is down; cleared by the next delivered message or
  // by mark_brokers_up() (the caller saw a broker answer, e.g. a metadata request).
  [[nodiscard]] bool all_brokers_down() const { return state_->brokers_down.load(); }
  void mark_brokers_up() { state_->brokers_down.store(false); }

 private:
  Producer() = default;
  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);

  struct State {
    std::vector<DeliveryReport> reports;
    ReportCallback on_report;
    std::atomic<bool> brokers_down{false};
    std::atomic<bool> fatal{false};
  };
  // Declared first so it outlives the handle whose callbacks use it.
  std::unique_ptr<State> state_ = std::make_unique<State>();
  KafkaPtr rk_;
};

}  // namespace bridge::kafka

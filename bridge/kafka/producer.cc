#include "bridge/kafka/producer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>

namespace bridge::kafka {

core::Result<Producer> Producer::create(const config::KafkaConfig& cluster,
                                        const std::string& brokers,
                                        const std::map<std::string, std::string>& properties,
                                        ReportCallback on_report) {
  std::map<std::string, std::string> props = {
      {"linger.ms", "5"},
      {"compression.type", "lz4"},
  };
  for (const auto& [k, v] : properties) {
    props[k] = v;
  }
  props["enable.idempotence"] = "true";
  // Consumer-only settings from the shared kafka.properties would only produce warnings here.
  auto conf = base_conf(cluster, brokers, props);
  if (!conf) {
    return tl::unexpected(conf.error());
  }
  Producer p;
  p.state_->on_report = std::move(on_report);
  rd_kafka_conf_set_opaque(conf->get(), p.state_.get());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Producer::on_delivery);
  rd_kafka_conf_set_error_cb(conf->get(), &Producer::on_error);
  std::array<char, 512> err{};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err.data(), err.size());
  if (rk == nullptr) {
    return core::fail(core::ErrorKind::fatal, "kafka-producer",
                      fmt::format("cannot create producer: {}", err.data()));
  }
  (void)conf->release();
  p.rk_.reset(rk);
  return p;
}

void Producer::on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  auto* state = static_cast<State*>(opaque);
  const DeliveryReport report{reinterpret_cast<std::uintptr_t>(msg->_private), msg->err,
                              rd_kafka_message_status(msg)};
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    state->brokers_down.store(false, std::memory_order_relaxed);
  }
  if (state->on_report) {
    state->on_report(report);
  } else {
    state->reports.push_back(report);
  }
}

// Without an error callback librdkafka only logs these; the flags feed readiness and answers.
void Producer::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* state = static_cast<State*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    state->brokers_down.store(true, std::memory_order_relaxed);
  } else if (err == RD_KAFKA_RESP_ERR__FATAL) {
    state->fatal.store(true, std::memory_order_relaxed);
    std::array<char, 512> text{};
    rd_kafka_fatal_error(rk, text.data(), text.size());
    spdlog::error("kafka producer: fatal error: {}", text.data());
    return;
  }
  spdlog::warn("kafka producer: {}", reason);
}

std::string Producer::fatal_error() const {
  if (!state_->fatal.load(std::memory_order_relaxed)) {
    return {};
  }
  std::array<char, 512> text{};
  rd_kafka_fatal_error(rk_.get(), text.data(), text.size());
  return text.data();
}

rd_kafka_resp_err_t Producer::produce(std::string_view topic, std::string_view key,
                                      std::string_view value, std::span<const core::Header> headers,
                                      std::uint64_t ticket) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (!headers.empty()) {
    hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& h : headers) {
      rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()), h.value.data(),
                          static_cast<ssize_t>(h.value.size()));
    }
  }
  const std::string topic_name(topic);
  // A full local queue means the cluster is slow or gone: QUEUE_FULL goes back to the caller at
  // once (a retry after a backoff: backpressure), never a wait on the pipeline thread.
  {
    // rd_kafka_produceva copies key and value (RD_KAFKA_MSG_F_COPY) and takes the headers on
    // success. The vu array form avoids the old-style casts inside the producev macros.
    std::array<rd_kafka_vu_t, 6> vus{};
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic_name.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[1].u.i = RD_KAFKA_MSG_F_COPY;
    vus[2].vtype = RD_KAFKA_VTYPE_KEY;
    vus[2].u.mem.ptr = const_cast<char*>(key.data());
    vus[2].u.mem.size = key.size();
    vus[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[3].u.mem.ptr = const_cast<char*>(value.data());
    vus[3].u.mem.size = value.size();
    vus[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[4].u.ptr = reinterpret_cast<void*>(static_cast<std::uintptr_t>(ticket));
    std::size_t count = 5;
    if (hdrs != nullptr) {
      vus[5].vtype = RD_KAFKA_VTYPE_HEADERS;
      vus[5].u.headers = hdrs;
      count = 6;
    }
    rd_kafka_error_t* error = rd_kafka_produceva(rk_.get(), vus.data(), count);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (error != nullptr) {
      err = rd_kafka_error_code(error);
      rd_kafka_error_destroy(error);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && hdrs != nullptr) {
      rd_kafka_headers_destroy(hdrs);
    }
    return err;
  }
}

void Producer::poll(std::vector<DeliveryReport>& out, std::chrono::milliseconds wait) {
  rd_kafka_poll(rk_.get(), state_->reports.empty() ? static_cast<int>(wait.count()) : 0);
  for (const auto& r : state_->reports) {
    out.push_back(r);
  }
  state_->reports.clear();
}

bool Producer::flush(std::chrono::milliseconds deadline) {
  return rd_kafka_flush(rk_.get(), static_cast<int>(deadline.count())) ==
         RD_KAFKA_RESP_ERR_NO_ERROR;
}

}  // namespace bridge::kafka

#include "bridge/metrics/metrics.h"

#include <fmt/format.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "bridge/core/version.h"

namespace bridge::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

prometheus::Family<prometheus::Counter>& counter_family(prometheus::Registry& r,
                                                        const std::string& name,
                                                        const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(r);
}

prometheus::Counter& counter(prometheus::Registry& r, const std::string& name,
                             const std::string& help) {
  return counter_family(r, name, help).Add({});
}

prometheus::Gauge& gauge(prometheus::Registry& r, const std::string& name,
                         const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(r).Add({});
}

prometheus::Histogram& histogram(prometheus::Registry& r, const std::string& name,
                                 const std::string& help,
                                 prometheus::Histogram::BucketBoundaries buckets) {
  return BuildHistogram().Name(name).Help(help).Register(r).Add({}, std::move(buckets));
}

}  // namespace

ReceiverMetrics::ReceiverMetrics(prometheus::Registry& r)
    : requests(counter_family(r, "capillary_bridge_receiver_requests_total",
                              "Webhook requests by configured path (\"other\" for none) and "
                              "HTTP status answered")),
      bytes(counter_family(r, "capillary_bridge_receiver_request_bytes_total",
                           "Webhook request body bytes read, by configured path")),
      events(counter_family(r, "capillary_bridge_receiver_events_total",
                            "Events by path and outcome: produced (the broker acknowledged), "
                            "failed (not acknowledged: answered 503), rejected (answered 4xx)")),
      auth_failures(counter_family(r, "capillary_bridge_receiver_auth_failures_total",
                                   "Webhook requests refused 401: the secret header missing or "
                                   "matching no accepted token")),
      refused(counter_family(r, "capillary_bridge_receiver_refused_total",
                             "Webhook requests answered 503 (retry later), by reason")),
      produce_seconds(histogram(
          r, "capillary_bridge_receiver_produce_seconds",
          "Time from handing a webhook's events to the producer to the broker's acknowledgement",
          {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
      inflight_requests(gauge(r, "capillary_bridge_receiver_inflight_requests",
                              "Webhook requests being read or waiting for the broker")),
      ready(gauge(r, "capillary_bridge_receiver_ready",
                  "1 while the receiver accepts events: the broker is reachable and it is not "
                  "shutting down")) {}

PlatformMetrics::PlatformMetrics(prometheus::Registry& r)
    : requests(counter_family(r, "capillary_bridge_platform_requests_total",
                              "Platform streaming requests by inlet and HTTP status (or "
                              "timeout/connection for requests without an answer)")),
      messages(counter_family(r, "capillary_bridge_platform_messages_total",
                              "Platform streaming messages by inlet and per-message outcome")),
      resends(counter_family(r, "capillary_bridge_platform_resends_total",
                             "Requests the sink resent itself: split after 413, retry after a "
                             "token refresh")),
      token_refreshes(counter_family(r, "capillary_bridge_platform_token_refreshes_total",
                                     "IMS access token requests by result")),
      rate_limit_waits(counter_family(r, "capillary_bridge_platform_rate_limit_wait_seconds_total",
                                      "Time requests waited for the client-side rate limits")),
      batch_messages(histogram(r, "capillary_bridge_platform_batch_messages",
                               "Messages per Platform request",
                               {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500})),
      batch_bytes(
          histogram(r, "capillary_bridge_platform_batch_bytes", "Body bytes per Platform request",
                    {1024, 8192, 32768, 65536, 131072, 262144, 524288, 786432, 1000000, 1048576})),
      request_seconds(histogram(
          r, "capillary_bridge_platform_request_duration_seconds",
          "Platform request latency, sent to answered",
          {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})),
      inflight_requests(gauge(r, "capillary_bridge_platform_inflight_requests",
                              "Platform requests sent and not yet answered")),
      token_expiry_timestamp(gauge(r, "capillary_bridge_platform_token_expiry_timestamp_seconds",
                                   "When the current IMS access token expires (unix seconds)")),
      auth_failing(prometheus::BuildGauge()
                       .Name("capillary_bridge_platform_auth_failing")
                       .Help("1 while an inlet cannot authenticate: Platform refuses even a "
                             "freshly refreshed token, or IMS gives none; the partitions retry "
                             "with backoff, nothing is dropped")
                       .Register(r)),
      breaker_open(prometheus::BuildGauge()
                       .Name("capillary_bridge_platform_breaker_open")
                       .Help("1 while the inlet's dead-letter circuit breaker is open: Platform "
                             "refused too many messages in the window, so refusals are retried "
                             "(partitions pause) instead of dead-lettered")
                       .Register(r)),
      body_limit_refusals(counter_family(
          r, "capillary_bridge_platform_body_limit_refusals_total",
          "413 answers to requests holding a single message under Platform's 1 MB limit: a "
          "proxy's body limit, retried, never dead-lettered")),
      body_limit_failing(prometheus::BuildGauge()
                             .Name("capillary_bridge_platform_body_limit_failing")
                             .Help("1 from a 413 for a single message under 1 MB until a request "
                                   "on the inlet is accepted")
                             .Register(r)),
      tls_failures(counter_family(
          r, "capillary_bridge_platform_tls_failures_total",
          "TLS failures talking to an inlet or IMS (endpoint): certificate not trusted, name "
          "mismatch, handshake; retried, never dead-lettered")),
      tls_failing(prometheus::BuildGauge()
                      .Name("capillary_bridge_platform_tls_failing")
                      .Help("1 from a TLS failure with the endpoint until an exchange with it "
                            "gets through TLS")
                      .Register(r)),
      insecure_http(gauge(r, "capillary_bridge_insecure_http",
                          "1 when allow_insecure_http let an http:// URL to a host that is not "
                          "loopback through (inlets, IMS, the control plane)")) {}

Metrics::Metrics()
    : rebalance_family_(counter_family(*registry_, "capillary_bridge_rebalances_total",
                                       "Consumer group rebalance callbacks by type")),
      records_delivered(counter(*registry_, "capillary_bridge_records_delivered_total",
                                "Consumed records whose every output the sink accepted")),
      sink_retries(counter(*registry_, "capillary_bridge_sink_retries_total",
                           "Outputs the sink asked to retry later")),
      sink_backoff_seconds(counter(*registry_, "capillary_bridge_sink_backoff_seconds_total",
                                   "Seconds of retry backoff partitions were given (sink retries, "
                                   "Retry-After included)")),
      dead_letter_write_failures(
          counter(*registry_, "capillary_bridge_dead_letter_write_failures_total",
                  "Failed dead-letter writes (transient: retried while the partition waits; "
                  "permanent: answered with a reduced letter, or the process stops)")),
      dead_letters_reduced(
          counter(*registry_, "capillary_bridge_dead_letters_reduced_total",
                  "Dead letters written reduced (payload cut to fit the topic, with its length "
                  "and SHA-256) because the full letter could not fit or was refused for good")),
      inflight_records(gauge(*registry_, "capillary_bridge_inflight_records",
                             "Consumed records not yet settled")),
      inflight_bytes(gauge(*registry_, "capillary_bridge_inflight_bytes",
                           "Payload bytes of consumed records not yet settled")),
      paused_partitions(gauge(*registry_, "capillary_bridge_paused_partitions",
                              "Partitions paused by backpressure or retries")),
      assigned_partitions(gauge(*registry_, "capillary_bridge_assigned_partitions",
                                "Partitions assigned to this instance")),
      sink_latency_seconds(
          BuildHistogram()
              .Name("capillary_bridge_sink_latency_seconds")
              .Help("Time from handing an output to the sink to its final verdict")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                               0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                                               5, 10, 30})),
      rebalance_assign(rebalance_family_.Add({{"type", "assign"}})),
      rebalance_revoke(rebalance_family_.Add({{"type", "revoke"}})),
      rebalance_lost(rebalance_family_.Add({{"type", "lost"}})),
      commits(counter(*registry_, "capillary_bridge_offset_commits_total",
                      "Offset commits that succeeded")),
      commit_failures(counter(*registry_, "capillary_bridge_offset_commit_failures_total",
                              "Offset commits that failed")),
      consumer_errors(counter(*registry_, "capillary_bridge_consumer_errors_total",
                              "Errors reported by the Kafka consumer")),
      consumed_family_(counter_family(*registry_, "capillary_bridge_records_consumed_total",
                                      "Records consumed from Kafka")),
      routed_family_(counter_family(*registry_, "capillary_bridge_records_routed_total",
                                    "Records matched to a transform by topic and event name")),
      transformed_family_(counter_family(*registry_, "capillary_bridge_records_transformed_total",
                                         "Records a transform turned into outputs")),
      warnings_family_(counter_family(*registry_, "capillary_bridge_transform_warnings_total",
                                      "Non-fatal problems transforms found in records (a field "
                                      "left out, an output over Platform's size guidance)")),
      delivered_family_(counter_family(*registry_, "capillary_bridge_outputs_delivered_total",
                                       "Outputs the sink accepted")),
      dead_lettered_family_(counter_family(*registry_,
                                           "capillary_bridge_records_dead_lettered_total",
                                           "Records written to the dead-letter topic")),
      lag_family_(BuildGauge()
                      .Name("capillary_bridge_consumer_lag")
                      .Help("Messages between the consumer position and the high watermark "
                            "(from librdkafka statistics)")
                      .Register(*registry_)) {
  BuildGauge()
      .Name("capillary_bridge_build_info")
      .Help("Build information; value is always 1")
      .Register(*registry_)
      .Add({{"version", std::string(core::version())},
            {"revision", std::string(core::git_revision())}})
      .Set(1);
}

std::string Metrics::expose() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

std::string_view Metrics::event_label(std::string_view event) {
  if (auto it = event_labels_.find(event); it != event_labels_.end()) {
    return it->second;
  }
  if (event_labels_.size() >= kMaxEventLabels) {
    return "other";
  }
  auto [it, _] = event_labels_.emplace(std::string(event), std::string(event));
  return it->second;
}

prometheus::Counter& Metrics::labelled(prometheus::Family<prometheus::Counter>& family,
                                       std::initializer_list<Label> labels) {
  // Key: the family's address, then each label value followed by a unit separator.
  const auto* family_address = &family;
  key_.assign(reinterpret_cast<const char*>(&family_address), sizeof(family_address));
  for (const auto& label : labels) {
    key_.append(label.second);
    key_.push_back('\x1f');
  }
  if (auto it = cache_.find(key_); it != cache_.end()) {
    return *it->second;
  }
  std::map<std::string, std::string> values;
  for (const auto& [name, value] : labels) {
    values.emplace(std::string(name), std::string(value));
  }
  auto& counter = family.Add(values);
  cache_.emplace(key_, &counter);
  return counter;
}

prometheus::Counter& Metrics::consumed(std::string_view topic) {
  return labelled(consumed_family_, {{"topic", topic}});
}

prometheus::Counter& Metrics::routed(std::string_view topic, std::string_view event,
                                     std::string_view transform) {
  return labelled(routed_family_, {{"topic", topic}, {"event", event}, {"transform", transform}});
}

prometheus::Counter& Metrics::transformed(std::string_view topic, std::string_view event,
                                          std::string_view transform) {
  return labelled(transformed_family_,
                  {{"topic", topic}, {"event", event}, {"transform", transform}});
}

prometheus::Counter& Metrics::transform_warning(std::string_view transform, std::string_view event,
                                                std::string_view warning) {
  return labelled(warnings_family_,
                  {{"transform", transform}, {"event", event}, {"warning", warning}});
}

prometheus::Counter& Metrics::outputs_delivered(std::string_view sink, std::string_view kind,
                                                std::string_view target) {
  return labelled(delivered_family_, {{"sink", sink}, {"kind", kind}, {"target", target}});
}

prometheus::Counter& Metrics::dead_lettered(std::string_view topic, std::string_view event,
                                            std::string_view reason) {
  return labelled(dead_lettered_family_, {{"topic", topic}, {"event", event}, {"reason", reason}});
}

prometheus::Gauge& Metrics::consumer_lag(std::string_view topic, std::int32_t partition) {
  auto key = fmt::format("{}\x1f{}", topic, partition);
  if (auto it = lag_cache_.find(key); it != lag_cache_.end()) {
    return *it->second;
  }
  auto& g =
      lag_family_.Add({{"topic", std::string(topic)}, {"partition", std::to_string(partition)}});
  lag_cache_.emplace(std::move(key), &g);
  return g;
}

void Metrics::remove_consumer_lag(std::string_view topic, std::int32_t partition) {
  auto key = fmt::format("{}\x1f{}", topic, partition);
  if (auto it = lag_cache_.find(key); it != lag_cache_.end()) {
    lag_family_.Remove(it->second);
    lag_cache_.erase(it);
  }
}

}  // namespace bridge::metrics

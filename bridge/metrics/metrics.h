#pragma once
// Every metric the bridge exports, in one place, so dashboards and alert rules have one list to
// check against. Names follow Prometheus conventions: capillary_bridge_<what>_<unit|total>.
// Labels never carry customer data: topic, partition, event name (bounded), transform, target,
// sink, reason code.
//
// Threading: prometheus-cpp metrics are thread-safe; the label-lookup helpers below are not and
// are called from the pipeline thread only.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace bridge::metrics {

// The Platform streaming sink's metrics. Families are thread-safe; the sink resolves the labelled
// children it needs (per inlet) once, on its own thread.
struct PlatformMetrics {
  explicit PlatformMetrics(prometheus::Registry& registry);

  prometheus::Family<prometheus::Counter>&
      requests;  // {inlet, status}: HTTP code or timeout/connection
  prometheus::Family<prometheus::Counter>&
      messages;  // {inlet, outcome}: accepted/rejected/retry/too_large/resent_after_accept
  prometheus::Family<prometheus::Counter>&
      resends;  // {reason}: split, reauth, bisect (inside the sink)
  prometheus::Family<prometheus::Counter>& token_refreshes;   // {result}: ok, error
  prometheus::Family<prometheus::Counter>& rate_limit_waits;  // {limit}: requests, messages
  prometheus::Histogram& batch_messages;
  prometheus::Histogram& batch_bytes;
  prometheus::Histogram& request_seconds;
  prometheus::Gauge& inflight_requests;
  prometheus::Gauge& token_expiry_timestamp;  // unix seconds; 0 = no token
  // {inlet}: 1 while Platform refuses a freshly refreshed token, or no token could be had.
  prometheus::Family<prometheus::Gauge>& auth_failing;
  // {inlet}: 1 while the dead-letter circuit breaker holds would-be dead letters back as retries.
  prometheus::Family<prometheus::Gauge>& breaker_open;
  // {inlet}: 413s for requests holding one message under Platform's 1 MB (a proxy's body limit).
  prometheus::Family<prometheus::Counter>& body_limit_refusals;
  // {inlet}: 1 from such a 413 until a request on the inlet is accepted.
  prometheus::Family<prometheus::Gauge>& body_limit_failing;
  // {endpoint}: an inlet's name, or "ims". TLS failures (certificate not trusted, name mismatch,
  // handshake), retried, never dead-lettered; the gauge is 1 from one until the next exchange
  // with the endpoint gets through TLS.
  prometheus::Family<prometheus::Counter>& tls_failures;
  prometheus::Family<prometheus::Gauge>& tls_failing;
  // 1 when allow_insecure_http let an http:// URL to a host that is not loopback through.
  prometheus::Gauge& insecure_http;
};

// The webhook receiver's metrics (bridge/receiver). Registered by the receiver when it runs, so
// `run` alone exports none of them. Thread-safe; children are resolved once per configured path.
struct ReceiverMetrics {
  explicit ReceiverMetrics(prometheus::Registry& registry);

  prometheus::Family<prometheus::Counter>& requests;  // {path, status}
  prometheus::Family<prometheus::Counter>& bytes;     // {path}
  prometheus::Family<prometheus::Counter>& events;    // {path, outcome}: produced/failed/rejected
  prometheus::Family<prometheus::Counter>& auth_failures;  // {path}
  // {reason}: queue-full, too-many-requests, broker-down, shutting-down, produce-failed,
  // produce-timeout
  prometheus::Family<prometheus::Counter>& refused;
  prometheus::Histogram& produce_seconds;
  prometheus::Gauge& inflight_requests;
  prometheus::Gauge& ready;
};

class Metrics {
  // Declared first: every metric below is registered in it during construction.
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& rebalance_family_;

 public:
  Metrics();

  [[nodiscard]] const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }
  // Prometheus text exposition of every metric (what /metrics serves).
  [[nodiscard]] std::string expose() const;

  // Pipeline-thread helpers: look a labelled child up once and cache it.
  prometheus::Counter& consumed(std::string_view topic);
  prometheus::Counter& routed(std::string_view topic, std::string_view event,
                              std::string_view transform);
  prometheus::Counter& transformed(std::string_view topic, std::string_view event,
                                   std::string_view transform);
  // `warning` is one of a transform's fixed warning codes (transforms::Emitter::warning).
  // `event`: Metrics::event_label of the record's event name.
  prometheus::Counter& transform_warning(std::string_view transform, std::string_view event,
                                         std::string_view warning);
  prometheus::Counter& outputs_delivered(std::string_view sink, std::string_view kind,
                                         std::string_view target);
  prometheus::Counter& dead_lettered(std::string_view topic, std::string_view event,
                                     std::string_view reason);
  prometheus::Gauge& consumer_lag(std::string_view topic, std::int32_t partition);
  void remove_consumer_lag(std::string_view topic, std::int32_t partition);

  // Event names come from input: only the first kMaxEventLabels distinct ones become label
  // values, the rest are reported as "other" so a flood of junk names cannot explode cardinality.
  std::string_view event_label(std::string_view event);

  prometheus::Counter& records_delivered;  // source records fully settled by the sink
  prometheus::Counter& sink_retries;
  prometheus::Counter& sink_backoff_seconds;  // time partitions sat out retry backoffs
  prometheus::Counter& dead_letter_write_failures;
  prometheus::Counter& dead_letters_reduced;  // letters cut to fit the dead-letter topic
  prometheus::Gauge& inflight_records;
  prometheus::Gauge& inflight_bytes;
  prometheus::Gauge& paused_partitions;
  prometheus::Gauge& assigned_partitions;
  prometheus::Histogram& sink_latency_seconds;
  prometheus::Counter& rebalance_assign;
  prometheus::Counter& rebalance_revoke;
  prometheus::Counter& rebalance_lost;
  prometheus::Counter& commits;
  prometheus::Counter& commit_failures;
  prometheus::Counter& consumer_errors;

  PlatformMetrics platform{*registry_};

  static constexpr std::size_t kMaxEventLabels = 256;

 private:
  using Label = std::pair<std::string_view, std::string_view>;
  prometheus::Counter& labelled(prometheus::Family<prometheus::Counter>& family,
                                std::initializer_list<Label> labels);

  prometheus::Family<prometheus::Counter>& consumed_family_;
  prometheus::Family<prometheus::Counter>& routed_family_;
  prometheus::Family<prometheus::Counter>& transformed_family_;
  prometheus::Family<prometheus::Counter>& warnings_family_;
  prometheus::Family<prometheus::Counter>& delivered_family_;
  prometheus::Family<prometheus::Counter>& dead_lettered_family_;
  prometheus::Family<prometheus::Gauge>& lag_family_;

  // Labelled counters by family address + label values: looked up with key_ (a reused buffer), so a
  // warm lookup allocates nothing. Used from the pipeline thread only.
  std::unordered_map<std::string, prometheus::Counter*> cache_;
  std::string key_;
  std::unordered_map<std::string, prometheus::Gauge*> lag_cache_;
  std::map<std::string, std::string, std::less<>> event_labels_;
};

}  // namespace bridge::metrics

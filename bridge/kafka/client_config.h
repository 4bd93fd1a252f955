#pragma once
// Building librdkafka configurations from the bridge config: bootstrap servers, SASL/SSL
// settings, then the user's pass-through properties (which win), then the settings the bridge's
// guarantees depend on (which the user cannot override: see kFixedConsumerProperties).

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <string>

#include "bridge/config/config.h"
#include "bridge/core/result.h"

namespace bridge::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

// Sets one property; errors name the property but never echo its value (it may be a secret).
[[nodiscard]] core::Result<void> set(rd_kafka_conf_t* conf, const std::string& name,
                                     const std::string& value);

// Common settings for every client of the bridge: brokers, client.id, security, logging.
// `brokers` overrides cfg.brokers when non-empty (dead-letter and sink clusters).
[[nodiscard]] core::Result<ConfPtr> base_conf(const config::KafkaConfig& cfg,
                                              const std::string& brokers,
                                              const std::map<std::string, std::string>& extra);

// Routes librdkafka's log lines to spdlog (never at a level that prints SASL secrets).
void install_logger(rd_kafka_conf_t* conf);

}  // namespace bridge::kafka

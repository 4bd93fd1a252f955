#include "bridge/kafka/client_config.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>

#include "bridge/core/secret.h"

namespace bridge::kafka {

core::Result<void> set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  std::array<char, 512> err{};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err.data(), err.size()) !=
      RD_KAFKA_CONF_OK) {
    return core::fail(core::ErrorKind::fatal, "kafka-config",
                      fmt::format("librdkafka property '{}': {}", name, err.data()));
  }
  return {};
}

void install_logger(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_log_cb(conf,
                           [](const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
                             const auto* name = rd_kafka_name(rk);
                             if (level <= 3) {
                               spdlog::error("librdkafka {} {}: {}", name, fac, buf);
                             } else if (level <= 4) {
                               spdlog::warn("librdkafka {} {}: {}", name, fac, buf);
                             } else if (level <= 6) {
                               spdlog::info("librdkafka {} {}: {}", name, fac, buf);
                             } else {
                               spdlog::debug("librdkafka {} {}: {}", name, fac, buf);
                             }
                           });
}

core::Result<ConfPtr> base_conf(const config::KafkaConfig& cfg, const std::string& brokers,
                                const std::map<std::string, std::string>& extra) {
  ConfPtr conf(rd_kafka_conf_new());
  std::vector<std::pair<std::string, std::string>> props;
  // Room for every property up front: a reallocation would leave the passwords' old copies
  // behind, unwiped.
  props.reserve(9 + cfg.properties.size() + extra.size());
  props.emplace_back("bootstrap.servers", brokers.empty() ? cfg.brokers : brokers);
  props.emplace_back("client.id", cfg.client_id);
  const auto& sec = cfg.security;
  auto add_if = [&props](const char* name, std::string_view value) {
    if (!value.empty()) {
      props.emplace_back(name, std::string(value));
    }
  };
  add_if("security.protocol", sec.protocol);
  add_if("sasl.mechanisms", sec.sasl_mechanism);
  add_if("sasl.username", sec.sasl_username);
  add_if("sasl.password", sec.sasl_password.reveal());
  add_if("ssl.ca.location", sec.ssl_ca_location);
  add_if("ssl.certificate.location", sec.ssl_certificate_location);
  add_if("ssl.key.location", sec.ssl_key_location);
  add_if("ssl.key.password", sec.ssl_key_password.reveal());
  for (const auto& [k, v] : cfg.properties) {
    props.emplace_back(k, v);
  }
  for (const auto& [k, v] : extra) {
    props.emplace_back(k, v);
  }
  core::Result<void> result;
  for (const auto& [k, v] : props) {
    if (result) {
      result = set(conf.get(), k, v);
    }
  }
  for (auto& [k, v] : props) {
    core::wipe(v);  // the SASL and key passwords: librdkafka has its own copy now
  }
  if (!result) {
    return tl::unexpected(result.error());
  }
  install_logger(conf.get());
  return conf;
}

}  // namespace bridge::kafka

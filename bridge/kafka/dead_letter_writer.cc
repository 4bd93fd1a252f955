#include "bridge/kafka/dead_letter_writer.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>

#include "bridge/core/version.h"
#include "bridge/kafka/kafka_sink.h"

namespace bridge::kafka {
namespace {

constexpr auto kDescribeTimeout = std::chrono::seconds(15);
constexpr std::size_t kMaxMessageHeader = 4096;  // capillary-bridge.message in a reduced letter
constexpr std::int64_t kQueueKiB = 32768;        // default queue.buffering.max.kbytes
constexpr std::int64_t kProducerMaxMessageBytes = 67108864;  // default message.max.bytes

// A numeric producer property as it will be applied (the user's value when set).
std::int64_t property(const std::map<std::string, std::string>& props, const std::string& key,
                      std::int64_t fallback) {
  const auto it = props.find(key);
  std::int64_t value = 0;
  if (it == props.end() ||
      std::from_chars(it->second.data(), it->second.data() + it->second.size(), value).ec !=
          std::errc{} ||
      value <= 0) {
    return fallback;
  }
  return value;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
    return "unavailable";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0x0F]);
  }
  return out;
}

std::size_t header_bytes(std::span<const core::Header> headers) {
  std::size_t n = 0;
  for (const auto& h : headers) {
    n += h.name.size() + h.value.size() + 8;  // varint lengths and attributes, generously
  }
  return n;
}

}  // namespace

bool is_permanent_dead_letter_error(rd_kafka_resp_err_t err) {
  if (is_permanent_for_message(err)) {
    return true;
  }
  switch (err) {
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR__FATAL:
      return true;
    default:
      return false;
  }
}

core::Result<std::optional<std::int64_t>> describe_topic_max_message_bytes(
    rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout) {
  std::array<char, 256> errstr{};
  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout.count()),
                                            errstr.data(), errstr.size());
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_DescribeConfigs(rk, &resource, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()) + 1000);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_ConfigResource_destroy(resource);

  std::optional<std::int64_t> result;
  std::string unknown;  // why the limit could not be read
  bool missing = false;
  if (event == nullptr) {
    unknown = "no answer from the cluster in time";
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    unknown = rd_kafka_event_error_string(event);
  } else {
    const rd_kafka_DescribeConfigs_result_t* r = rd_kafka_event_DescribeConfigs_result(event);
    std::size_t count = 0;
    const rd_kafka_ConfigResource_t** resources =
        r != nullptr ? rd_kafka_DescribeConfigs_result_resources(r, &count) : nullptr;
    if (count != 1) {
      unknown = "unexpected DescribeConfigs answer";
    } else if (const auto err = rd_kafka_ConfigResource_error(resources[0]);
               err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      missing = true;
    } else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      unknown = rd_kafka_err2str(err);
    } else {
      std::size_t entries = 0;
      const rd_kafka_ConfigEntry_t** configs =
          rd_kafka_ConfigResource_configs(resources[0], &entries);
      for (std::size_t i = 0; i < entries; ++i) {
        const char* name = rd_kafka_ConfigEntry_name(configs[i]);
        const char* value = rd_kafka_ConfigEntry_value(configs[i]);
        if (name != nullptr && value != nullptr && std::string_view(name) == "max.message.bytes") {
          std::int64_t v = 0;
          const std::string_view text(value);
          if (auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
              ec == std::errc() && v > 0) {
            result = v;
          }
        }
      }
      if (!result) {
        unknown = "the topic's configuration has no max.message.bytes";
      }
    }
  }
  if (event != nullptr) {
    rd_kafka_event_destroy(event);
  }
  rd_kafka_queue_destroy(queue);
  if (missing) {
    return core::fail(core::ErrorKind::permanent, "dead-letter-topic-missing",
                      fmt::format("the dead-letter topic '{}' does not exist; create it (with "
                                  "max.message.bytes at least the source topics') or set "
                                  "dead_letter.topic",
                                  topic));
  }
  if (!result) {
    spdlog::warn(
        "cannot read the dead-letter topic '{}' configuration ({}); assuming max.message.bytes "
        "{}",
        topic, unknown, kDefaultMaxMessageBytes);
  }
  return result;
}

core::Result<std::unique_ptr<DeadLetterWriter>> DeadLetterWriter::create(
    const config::KafkaConfig& cluster, const config::DeadLetterConfig& cfg, bool check_topic) {
  // Letters wait in librdkafka's queue while the topic is slow: bounded (librdkafka's default is
  // 1 GiB); a full queue is a transient failure the pipeline retries after a backoff.
  std::map<std::string, std::string> props = {
      {"message.max.bytes", std::to_string(kProducerMaxMessageBytes)},
      {"queue.buffering.max.kbytes", std::to_string(kQueueKiB)}};
  for (const auto& [k, v] : cfg.properties) {
    props[k] = v;
  }
  // A letter never takes more than half the queue (a larger one would be QUEUE_FULL, retried
  // for ever) nor more than the producer's own message.max.bytes, whatever the user set.
  const std::int64_t max_letter =
      property(props, "queue.buffering.max.kbytes", kQueueKiB) * 1024 / 2;
  const std::int64_t producer_limit =
      property(props, "message.max.bytes", kProducerMaxMessageBytes);
  // librdkafka retries transient errors for two minutes; then the delivery report says so and
  // the pipeline writes the letter again after a backoff (the partition waits, /readyz is false,
  // the failure is counted and logged). Permanent errors come back in the delivery report and
  // are answered with a reduced letter.
  if (!props.contains("message.timeout.ms")) {
    props["message.timeout.ms"] = "120000";
  }
  auto producer = Producer::create(cluster, cfg.brokers, props);
  if (!producer) {
    return tl::unexpected(producer.error());
  }
  std::int64_t limit = kDefaultMaxMessageBytes;
  if (check_topic) {
    auto described =
        describe_topic_max_message_bytes(producer->handle(), cfg.topic, kDescribeTimeout);
    if (!described) {
      return tl::unexpected(described.error());
    }
    if (*described) {
      limit = **described;
      spdlog::info("dead-letter topic '{}': max.message.bytes {}", cfg.topic, limit);
    }
  }
  return std::unique_ptr<DeadLetterWriter>(new DeadLetterWriter(
      std::move(*producer), cfg.topic, std::min(limit, producer_limit), max_letter));
}

void DeadLetterWriter::write(const deadletter::Letter& letter) {
  const core::RecordView& rec = *letter.record;
  // A redriven letter that failed again keeps naming where the event first came from, counts
  // the attempt, and names the letter it was redriven from.
  const std::string here = fmt::format("{}/{}/{}", rec.topic, rec.partition, rec.offset);
  const std::string_view source = rec.redrive != nullptr ? rec.redrive->source : here;
  const std::string attempts =
      rec.redrive != nullptr ? std::to_string(rec.redrive->attempts + 1) : std::string();
  // What a letter may hold: the topic's limit less room for the batch and record framing and
  // for lz4 expanding bytes that do not compress; never more than half the producer's queue.
  const auto budget = static_cast<std::size_t>(
      std::clamp<std::int64_t>(max_message_bytes_ - max_message_bytes_ / 64 - 1024, 4096,
                               std::max<std::int64_t>(4096, max_letter_bytes_)));

  headers_.clear();
  const std::string_view message =
      letter.reduce ? letter.message.substr(0, kMaxMessageHeader) : letter.message;
  headers_.push_back({deadletter::kReasonHeader, letter.reason});
  headers_.push_back({deadletter::kMessageHeader, message});
  headers_.push_back({deadletter::kSourceHeader, source});
  headers_.push_back({deadletter::kVersionHeader, core::version()});
  if (!letter.event_name.empty()) {
    headers_.push_back({deadletter::kEventHeader, letter.event_name});
  }
  if (rec.redrive != nullptr) {
    headers_.push_back({deadletter::kAttemptsHeader, attempts});
    headers_.push_back({deadletter::kRedrivenFromHeader, here});
  }
  const std::size_t ours = header_bytes(headers_);
  const std::size_t theirs = header_bytes(rec.headers);
  const bool reduce = letter.reduce || rec.key.size() + rec.payload.size() + ours + theirs > budget;

  std::string_view key = rec.key;
  std::string_view payload = rec.payload;
  std::string length;
  std::string digest;
  if (reduce) {
    length = std::to_string(rec.payload.size());
    digest = sha256_hex(rec.payload);
    headers_.push_back({deadletter::kTruncatedHeader, "true"});
    headers_.push_back({deadletter::kOriginalBytesHeader, length});
    headers_.push_back({deadletter::kOriginalSha256Header, digest});
    // Original headers only while they stay small; the key is cut if absurdly long.
    if (theirs <= budget / 4) {
      headers_.insert(headers_.begin(), rec.headers.begin(), rec.headers.end());
    }
    key = key.substr(0, budget / 8);
    const std::size_t used = header_bytes(headers_) + key.size();
    payload = payload.substr(0, used < budget ? budget - used : 0);
  } else {
    headers_.insert(headers_.begin(), rec.headers.begin(), rec.headers.end());
  }
  // A letter that cannot fit the topic's limit is refused here, for good, without a round trip
  // (librdkafka would retry a broker's "too large" until message.timeout.ms).
  if (const std::size_t size = header_bytes(headers_) + key.size() + payload.size();
      size > static_cast<std::size_t>(max_message_bytes_)) {
    immediate_.push_back({letter.ticket, false, true, reduce,
                          fmt::format("a letter of {} bytes exceeds max.message.bytes ({}, "
                                      "the topic's or the producer's)",
                                      size, max_message_bytes_)});
    return;
  }
  const auto err = producer_.produce(topic_, key, payload, headers_, letter.ticket);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    immediate_.push_back(
        {letter.ticket, false, is_permanent_dead_letter_error(err), reduce, rd_kafka_err2str(err)});
    return;
  }
  if (reduce) {
    reduced_tickets_.push_back(letter.ticket);
  }
}

void DeadLetterWriter::poll(std::vector<deadletter::WriteResult>& out,
                            std::chrono::milliseconds wait) {
  for (auto& r : immediate_) {
    out.push_back(std::move(r));
  }
  immediate_.clear();
  reports_.clear();
  producer_.poll(reports_, out.empty() ? wait : std::chrono::milliseconds(0));
  for (const auto& r : reports_) {
    bool reduced = false;
    if (!reduced_tickets_.empty()) {
      if (auto it = std::find(reduced_tickets_.begin(), reduced_tickets_.end(), r.ticket);
          it != reduced_tickets_.end()) {
        reduced = true;
        *it = reduced_tickets_.back();
        reduced_tickets_.pop_back();
      }
    }
    const bool ok = r.error == RD_KAFKA_RESP_ERR_NO_ERROR;
    out.push_back({r.ticket, ok, !ok && is_permanent_dead_letter_error(r.error), reduced,
                   ok ? std::string() : rd_kafka_err2str(r.error)});
  }
}

}  // namespace bridge::kafka

#include "bridge/kafka/kafka_source.h"

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace bridge::kafka {
namespace {

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

PartitionListPtr to_list(std::span<const source::TopicPartition> parts) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
  for (const auto& tp : parts) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
  }
  return list;
}

std::vector<source::TopicPartition> from_list(const rd_kafka_topic_partition_list_t* list) {
  std::vector<source::TopicPartition> out;
  out.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition});
  }
  return out;
}

void release_copy(void* handle) {
  delete[] static_cast<char*>(handle);
}

// A record's bytes (topic, key, payload, headers) copied into one block it owns, so that the
// librdkafka message can be destroyed at once. A message points into its whole fetch response
// (up to fetch.max.bytes, shared with other partitions): held until the record settles, one slow
// record pinned megabytes nobody counted (1M backlog at 2 s Platform latency: peak RSS 209 MiB
// against 85 MiB steady). One copy per record costs less than its JSON parse.
source::Record copy_record(rd_kafka_message_t* msg) {
  const std::string_view topic = rd_kafka_topic_name(msg->rkt);
  const std::string_view key{static_cast<const char*>(msg->key),
                             msg->key != nullptr ? msg->key_len : 0};
  const std::string_view payload{static_cast<const char*>(msg->payload),
                                 msg->payload != nullptr ? msg->len : 0};
  std::vector<core::Header> headers;
  std::size_t total = topic.size() + key.size() + payload.size();
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    headers.reserve(rd_kafka_header_cnt(hdrs));
    for (size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      headers.push_back({name, {static_cast<const char*>(value), value != nullptr ? size : 0}});
      total += headers.back().name.size() + headers.back().value.size();
    }
  }
  char* block = new char[std::max<std::size_t>(total, 1)];
  char* at = block;
  auto copy = [&at](std::string_view s) {
    std::memcpy(at, s.data(), s.size());
    const std::string_view out{at, s.size()};
    at += s.size();
    return out;
  };
  core::RecordView view;
  view.topic = copy(topic);
  view.partition = msg->partition;
  view.offset = msg->offset;
  rd_kafka_timestamp_type_t ts_type{};
  const std::int64_t ts = rd_kafka_message_timestamp(msg, &ts_type);
  view.timestamp_ms = ts > 0 ? ts : 0;
  view.key = copy(key);
  view.payload = copy(payload);
  for (auto& h : headers) {
    h.name = copy(h.name);
    h.value = copy(h.value);
  }
  return {view, std::move(headers), block, &release_copy};
}

}  // namespace

core::Result<std::unique_ptr<KafkaSource>> KafkaSource::create(const config::KafkaConfig& cfg,
                                                               metrics::Metrics& metrics,
                                                               const std::string& brokers) {
  // What at-least-once depends on; applied after the user's properties so they cannot be undone.
  std::map<std::string, std::string> fixed = {
      {"group.id", cfg.group_id},
      {"enable.auto.offset.store", "false"},
      {"enable.auto.commit", "true"},
      {"auto.commit.interval.ms", std::to_string(cfg.commit_interval.count())},
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"auto.offset.reset", cfg.auto_offset_reset},
      {"session.timeout.ms", std::to_string(cfg.session_timeout.count())},
      {"queued.max.messages.kbytes",
       std::to_string(std::max<std::int64_t>(1, cfg.prefetch_bytes / 1024))},
      {"enable.partition.eof", "false"},
  };
  if (!cfg.properties.contains("statistics.interval.ms")) {
    fixed.emplace("statistics.interval.ms", "5000");  // consumer lag for metrics
  }
  if (!cfg.properties.contains("fetch.max.bytes")) {
    // librdkafka fetches again while its queue is under queued.max.messages.kbytes, so the queue
    // overshoots by up to one fetch response, decompressed: with lz4 batches of 1 MB, librdkafka's
    // 50 MiB default (or a quarter of the prefetch) put 30+ MiB over the bound at every resume.
    fixed.emplace("fetch.max.bytes", std::to_string(std::clamp<std::int64_t>(
                                         cfg.prefetch_bytes / 16, 1 << 20, 52428800)));
  }
  if (!cfg.properties.contains("fetch.queue.backoff.ms")) {
    // How soon a partition whose queue was full is looked at again (librdkafka's default: a
    // second). At 1 s the consumer read one prefetch per second whenever the bridge kept up.
    fixed.emplace("fetch.queue.backoff.ms", "10");
  }
  if (!cfg.properties.contains("fetch.wait.max.ms")) {
    // librdkafka's 500 ms default showed up as end-to-end latency: with 6 partitions at 5,000
    // events/s, p99 was 522 ms at 500, 246 ms at 100 and 31 ms at 20 (bench/e2e_bench). An idle
    // consumer then sends ~50 small fetch requests a second, which brokers shrug off.
    fixed.emplace("fetch.wait.max.ms", "20");
  }
  auto conf = base_conf(cfg, brokers, fixed);
  if (!conf) {
    return tl::unexpected(conf.error());
  }
  std::unique_ptr<KafkaSource> self(new KafkaSource(metrics));
  rd_kafka_conf_set_opaque(conf->get(), self.get());
  rd_kafka_conf_set_rebalance_cb(conf->get(), &KafkaSource::on_rebalance);
  rd_kafka_conf_set_offset_commit_cb(conf->get(), &KafkaSource::on_commit);
  rd_kafka_conf_set_stats_cb(conf->get(), &KafkaSource::on_stats);

  std::array<char, 512> err{};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err.data(), err.size());
  if (rk == nullptr) {
    return core::fail(core::ErrorKind::fatal, "kafka-consumer",
                      fmt::format("cannot create consumer: {}", err.data()));
  }
  (void)conf->release();  // owned by rk now
  self->rk_.reset(rk);
  rd_kafka_poll_set_consumer(rk);

  std::vector<source::TopicPartition> subscription;
  if (!cfg.topic_regex.empty()) {
    subscription.push_back({cfg.topic_regex, RD_KAFKA_PARTITION_UA});
  }
  for (const auto& t : cfg.topics) {
    subscription.push_back({t, RD_KAFKA_PARTITION_UA});
  }
  auto list = to_list(subscription);
  if (auto e = rd_kafka_subscribe(rk, list.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return core::fail(core::ErrorKind::fatal, "kafka-subscribe",
                      fmt::format("cannot subscribe: {}", rd_kafka_err2str(e)));
  }
  return self;
}

KafkaSource::~KafkaSource() {
  close();
}

void KafkaSource::on_rebalance(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* parts, void* opaque) {
  static_cast<KafkaSource*>(opaque)->handle_rebalance(err, parts);
}

void KafkaSource::handle_rebalance(rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* parts) {
  rd_kafka_t* rk = rk_.get();
  if (cooperative_ < 0) {
    cooperative_ = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0 ? 1 : 0;
  }
  const bool cooperative = cooperative_ == 1;
  const auto tps = from_list(parts);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    metrics_.rebalance_assign.Increment();
    spdlog::info("assigned {} partition(s) ({})", tps.size(),
                 cooperative ? "incremental" : "eager");
    if (listener_ != nullptr) {
      listener_->on_assigned(tps);
    }
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) {
        spdlog::error("incremental assign failed: {}", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(rk, parts);
    }
    assigned_.fetch_add(static_cast<int>(tps.size()), std::memory_order_relaxed);
    return;
  }
  const bool lost = rd_kafka_assignment_lost(rk) != 0;
  (lost ? metrics_.rebalance_lost : metrics_.rebalance_revoke).Increment();
  spdlog::info("{} {} partition(s)", lost ? "lost" : "revoked", tps.size());
  if (collecting_ != nullptr) {
    std::erase_if(*collecting_, [&tps](const source::Record& r) {
      const auto v = r.view();
      return std::any_of(tps.begin(), tps.end(), [&v](const source::TopicPartition& tp) {
        return tp.partition == v.partition && tp.topic == v.topic;
      });
    });
  }
  if (listener_ != nullptr) {
    listener_->on_revoked(tps, lost);
  }
  if (!lost) {
    // The listener stored the final positions; make them durable before the new owner starts,
    // waiting a bounded time (the rebalance waits for us).
    if (auto e = commit_within(kCommitTimeout);
        e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      spdlog::warn("commit on revoke failed: {}; the next owner may redeliver what was settled",
                   rd_kafka_err2str(e));
    }
  }
  for (const auto& tp : tps) {
    metrics_.remove_consumer_lag(tp.topic, tp.partition);
  }
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) {
      spdlog::error("incremental unassign failed: {}", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
    }
    assigned_.fetch_sub(static_cast<int>(tps.size()), std::memory_order_relaxed);
  } else {
    rd_kafka_assign(rk, nullptr);
    assigned_.store(0, std::memory_order_relaxed);
  }
}

void KafkaSource::on_commit(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t* /*offsets*/, void* opaque) {
  auto* self = static_cast<KafkaSource*>(opaque);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->metrics_.commits.Increment();
  } else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    self->metrics_.commit_failures.Increment();
    spdlog::warn("offset commit failed: {}", rd_kafka_err2str(err));
  }
}

int KafkaSource::on_stats(rd_kafka_t* /*rk*/, char* json, size_t len, void* opaque) {
  static_cast<KafkaSource*>(opaque)->update_lag({json, len});
  return 0;  // librdkafka frees json
}

// Statistics: topics.<name>.partitions.<id>.consumer_lag (-1 when unknown). Parsed with the DOM
// API: this runs every few seconds, off the per-record path.
void KafkaSource::update_lag(std::string_view stats_json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(stats_json.data(), stats_json.size()).get(doc) != simdjson::SUCCESS) {
    return;
  }
  simdjson::dom::object topics;
  if (doc["topics"].get_object().get(topics) != simdjson::SUCCESS) {
    return;
  }
  std::int64_t total = 0;
  for (auto [topic_name, topic] : topics) {
    simdjson::dom::object partitions;
    if (topic["partitions"].get_object().get(partitions) != simdjson::SUCCESS) {
      continue;
    }
    for (auto [pid, p] : partitions) {
      std::int64_t id = 0;
      std::int64_t lag = -1;
      std::string_view fetch_state;
      if (p["partition"].get_int64().get(id) != simdjson::SUCCESS || id < 0 ||
          p["consumer_lag"].get_int64().get(lag) != simdjson::SUCCESS ||
          p["fetch_state"].get_string().get(fetch_state) != simdjson::SUCCESS) {
        continue;
      }
      const bool assigned = fetch_state != "none" && fetch_state != "stopped";
      if (assigned && lag >= 0) {
        metrics_.consumer_lag(topic_name, static_cast<std::int32_t>(id))
            .Set(static_cast<double>(lag));
        total += lag;
      }
    }
  }
  total_lag_.store(total, std::memory_order_relaxed);
}

core::Result<void> KafkaSource::poll(std::vector<source::Record>& out, std::size_t max,
                                     std::chrono::milliseconds timeout) {
  int wait_ms = static_cast<int>(timeout.count());
  collecting_ = &out;
  struct Reset {
    std::vector<source::Record>*& target;
    ~Reset() { target = nullptr; }
  } reset{collecting_};
  for (std::size_t n = 0; n < max; ++n) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk_.get(), wait_ms);
    wait_ms = 0;
    if (msg == nullptr) {
      break;
    }
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const auto err = msg->err;
      const std::string text = rd_kafka_message_errstr(msg);
      rd_kafka_message_destroy(msg);
      metrics_.consumer_errors.Increment();
      if (err == RD_KAFKA_RESP_ERR__FATAL) {
        std::array<char, 512> reason{};
        rd_kafka_fatal_error(rk_.get(), reason.data(), reason.size());
        return core::fail(core::ErrorKind::fatal, "kafka-fatal", reason.data());
      }
      spdlog::warn("consumer: {}", text);
      continue;
    }
    out.push_back(copy_record(msg));
    rd_kafka_message_destroy(msg);
  }
  return {};
}

void KafkaSource::pause(std::span<const source::TopicPartition> partitions) {
  auto list = to_list(partitions);
  rd_kafka_pause_partitions(rk_.get(), list.get());
}

void KafkaSource::resume(std::span<const source::TopicPartition> partitions) {
  auto list = to_list(partitions);
  rd_kafka_resume_partitions(rk_.get(), list.get());
}

void KafkaSource::store(const source::TopicPartition& tp, std::int64_t next_offset) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset =
      next_offset;
  if (auto e = rd_kafka_offsets_store(rk_.get(), list.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::debug("offset store {}/{} failed: {}", tp.topic, tp.partition, rd_kafka_err2str(e));
  }
}

rd_kafka_resp_err_t KafkaSource::commit_within(std::chrono::milliseconds timeout) {
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_.get());
  auto e = rd_kafka_commit_queue(rk_.get(), nullptr, queue, nullptr, nullptr);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (rd_kafka_event_t* event = rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()))) {
      e = rd_kafka_event_error(event);
      rd_kafka_event_destroy(event);
    } else {
      e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    }
  }
  rd_kafka_queue_destroy(queue);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
    metrics_.commits.Increment();
  } else if (e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    metrics_.commit_failures.Increment();
  }
  return e;
}

core::Result<void> KafkaSource::commit(bool synchronous) {
  if (synchronous) {
    const auto e = commit_within(kCommitTimeout);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET) {
      return {};
    }
    return core::fail(
        core::ErrorKind::retry, "commit",
        fmt::format("{} (waited at most {} ms)", rd_kafka_err2str(e), kCommitTimeout.count()));
  }
  const auto e = rd_kafka_commit(rk_.get(), nullptr, 1);
  // Counting happens in on_commit, which librdkafka calls for synchronous commits too.
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET) {
    return {};
  }
  return core::fail(core::ErrorKind::retry, "commit", rd_kafka_err2str(e));
}

void KafkaSource::close() {
  if (closed_ || !rk_) {
    return;
  }
  closed_ = true;
  // Leaves the group: the revoke callback fires here, on this thread, and commits.
  if (auto e = rd_kafka_consumer_close(rk_.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("consumer close: {}", rd_kafka_err2str(e));
  }
  rk_.reset();
}

}  // namespace bridge::kafka

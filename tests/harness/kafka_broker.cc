#include "tests/harness/kafka_broker.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfHandle = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
};

// librdkafka's own log lines go to <broker dir>/clients.log instead of the test's stderr
// (a starting broker produces a burst of "connection refused").
struct ClientLog {
  std::mutex mutex;
  std::string path;
};

void log_line(ClientLog* log, const std::string& line) {
  if (log == nullptr) {
    return;
  }
  const std::lock_guard lock(log->mutex);
  if (std::FILE* f = std::fopen(log->path.c_str(), "a"); f != nullptr) {
    std::fputs(line.c_str(), f);
    std::fputc('\n', f);
    std::fclose(f);
  }
}

void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  log_line(static_cast<ClientLog*>(rd_kafka_opaque(rk)),
           fmt::format("{} [{}] {}: {}", rd_kafka_name(rk), level, fac, buf));
}

void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  log_line(static_cast<ClientLog*>(opaque),
           fmt::format("{} error {}: {}", rd_kafka_name(rk),
                       rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason));
}

// One per produce() call. Delivery callbacks run on whichever thread serves the producer's
// queue (another produce() call may), hence the atomics and the lock.
struct DeliveryState {
  std::atomic<std::int64_t> pending{0};
  std::atomic<std::int64_t> failed{0};
  std::mutex mutex;
  std::string first_error;
};

void on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* /*opaque*/) {
  auto* state = static_cast<DeliveryState*>(msg->_private);
  if (state == nullptr) {
    return;
  }
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const std::lock_guard lock(state->mutex);
    if (state->failed++ == 0) {
      state->first_error =
          fmt::format("partition {}: {}", msg->partition, rd_kafka_err2str(msg->err));
    }
  }
  --state->pending;
}

ClientLog& client_log_for(const std::string& path) {
  // One per broker directory, kept for the life of the test process (clients may log late).
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<ClientLog>> logs;
  const std::lock_guard lock(mutex);
  auto& slot = logs[path];
  if (!slot) {
    slot = std::make_unique<ClientLog>();
    slot->path = path;
  }
  return *slot;
}

void set_or_throw(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  std::array<char, 512> err{};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err.data(), err.size()) !=
      RD_KAFKA_CONF_OK) {
    throw std::runtime_error(fmt::format("librdkafka property {}={}: {}", name, value, err.data()));
  }
}

KafkaHandle make_client(rd_kafka_type_t type, const std::string& bootstrap,
                        const std::string& log_path,
                        const std::map<std::string, std::string>& props) {
  ConfHandle conf(rd_kafka_conf_new());
  set_or_throw(conf.get(), "bootstrap.servers", bootstrap);
  for (const auto& [k, v] : props) {
    set_or_throw(conf.get(), k, v);
  }
  ClientLog& log = client_log_for(log_path);
  rd_kafka_conf_set_opaque(conf.get(), &log);
  rd_kafka_conf_set_log_cb(conf.get(), on_log);
  rd_kafka_conf_set_error_cb(conf.get(), on_error);
  if (type == RD_KAFKA_PRODUCER) {
    rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
  }
  std::array<char, 512> err{};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err.data(), err.size());
  if (rk == nullptr) {
    throw std::runtime_error(fmt::format("rd_kafka_new: {}", err.data()));
  }
  (void)conf.release();  // owned by rk now
  return KafkaHandle(rk);
}

std::string random_cluster_id() {
  // 16 random bytes in unpadded base64url: 22 characters, what `kafka-storage random-uuid` prints.
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::random_device rd;
  std::array<unsigned char, 16> bytes{};
  for (auto& b : bytes) {
    b = static_cast<unsigned char>(rd() & 0xffU);
  }
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const unsigned char b : bytes) {
    acc = (acc << 8U) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> static_cast<unsigned>(bits)) & 0x3fU]);
    }
  }
  if (bits > 0) {
    out.push_back(kAlphabet[(acc << static_cast<unsigned>(6 - bits)) & 0x3fU]);
  }
  return out;
}

std::string random_suffix() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}

}  // namespace

std::string ConsumedMessage::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) {
      return v;
    }
  }
  return {};
}

bool ConsumedMessage::has_header(const std::string& name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&name](const auto& h) { return h.first == name; });
}

KafkaBroker::KafkaBroker() : log_path_(dir_.file("broker.log")) {}

KafkaBroker::~KafkaBroker() {
  stop();
}

void KafkaBroker::fail(const std::string& what) const {
  throw std::runtime_error(fmt::format("{}\n{}", what, log_tail()));
}

std::string KafkaBroker::log_tail(std::size_t lines) const {
  return fmt::format(
      "--- broker log ({}) ---\n{}--- broker JVM stdout ---\n{}--- broker JVM stderr ---\n{}",
      log_path_, tail_file(log_path_, lines), tail_file(dir_.file("jvm.out"), lines / 2),
      tail_file(dir_.file("jvm.err"), lines / 2));
}

void KafkaBroker::start(std::chrono::seconds timeout) {
  if (jvm_) {
    return;
  }
  const std::string src = source_dir();

  // 1. The jars (Maven Central on the first run, cached afterwards).
  {
    ChildProcess fetch({{"bash", src + "/tools/kafka/fetch.sh"},
                        {},
                        dir_.file("fetch.out"),
                        dir_.file("fetch.err"),
                        {}});
    const auto st = fetch.wait(std::chrono::minutes(10));
    if (!st || !st->exited || st->code != 0) {
      throw std::runtime_error(fmt::format("tools/kafka/fetch.sh failed ({}):\n{}",
                                           st ? to_string(*st) : "timed out",
                                           tail_file(dir_.file("fetch.err"))));
    }
  }
  std::string jars = read_file(dir_.file("fetch.out"));
  while (!jars.empty() && (jars.back() == '\n' || jars.back() == '\r')) {
    jars.pop_back();
  }
  if (const auto nl = jars.rfind('\n'); nl != std::string::npos) {
    jars = jars.substr(nl + 1);  // the directory is the last line printed
  }
  if (jars.empty()) {
    throw std::runtime_error("tools/kafka/fetch.sh printed no jar directory");
  }

  // 2.-4. Configure, format and start; a port taken between free_port() and the JVM's bind is
  // retried with fresh ports.
  std::string why;
  for (int attempt = 1;; ++attempt) {
    if (launch(jars, attempt, timeout, why)) {
      return;
    }
    const std::string log = read_file(log_path_) + read_file(dir_.file("jvm.out"));
    const bool port_clash = log.find("Address already in use") != std::string::npos;
    if (!port_clash || attempt == 3) {
      fail(why);
    }
    client_.reset();
  }
}

bool KafkaBroker::launch(const std::string& jars, int attempt, std::chrono::seconds timeout,
                         std::string& why) {
  const std::uint16_t port = free_port();
  std::uint16_t controller_port = free_port();
  while (controller_port == port) {
    controller_port = free_port();
  }
  bootstrap_ = fmt::format("127.0.0.1:{}", port);
  const std::string props_path = dir_.file("server.properties");
  const std::string log4j_path = dir_.file("log4j.properties");
  write_file(props_path,
             fmt::format("process.roles=broker,controller\n"
                         "node.id=1\n"
                         "controller.quorum.voters=1@127.0.0.1:{1}\n"
                         "listeners=PLAINTEXT://127.0.0.1:{0},CONTROLLER://127.0.0.1:{1}\n"
                         "advertised.listeners=PLAINTEXT://127.0.0.1:{0}\n"
                         "controller.listener.names=CONTROLLER\n"
                         "inter.broker.listener.name=PLAINTEXT\n"
                         "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
                         "log.dirs={2}\n"
                         "num.partitions=1\n"
                         "offsets.topic.replication.factor=1\n"
                         "offsets.topic.num.partitions=4\n"
                         "transaction.state.log.replication.factor=1\n"
                         "transaction.state.log.min.isr=1\n"
                         "group.initial.rebalance.delay.ms=0\n"
                         "auto.create.topics.enable=false\n"
                         "message.max.bytes=8388608\n"
                         "replica.fetch.max.bytes=8388608\n"
                         "num.network.threads=2\n"
                         "num.io.threads=4\n",
                         port, controller_port, dir_.file(fmt::format("data-{}", attempt))));
  write_file(log4j_path, fmt::format("log4j.rootLogger=WARN, file\n"
                                     "log4j.appender.file=org.apache.log4j.FileAppender\n"
                                     "log4j.appender.file.File={}\n"
                                     "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
                                     "log4j.appender.file.layout.ConversionPattern="
                                     "[%d] %p %m (%c)%n\n"
                                     "log4j.logger.kafka=WARN\n"
                                     "log4j.logger.org.apache.kafka=WARN\n"
                                     "log4j.logger.state.change.logger=WARN\n",
                                     log_path_));
  const std::string classpath = jars + "/*";
  const std::string log4j_flag = "-Dlog4j.configuration=file:" + log4j_path;

  // 3. Format the storage directory.
  const std::string cluster_id = random_cluster_id();
  {
    ChildProcess format(
        {{"java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", classpath, log4j_flag,
          "kafka.tools.StorageTool", "format", "--cluster-id=" + cluster_id, "-c", props_path},
         {},
         dir_.file("format.out"),
         dir_.file("format.err"),
         {}});
    const auto st = format.wait(std::chrono::minutes(2));
    if (!st || !st->exited || st->code != 0) {
      throw std::runtime_error(fmt::format(
          "kafka StorageTool format failed ({}):\n--- stdout ---\n{}--- stderr ---\n{}\n{}",
          st ? to_string(*st) : "timed out", tail_file(dir_.file("format.out")),
          tail_file(dir_.file("format.err")), log_tail()));
    }
  }

  cluster_id_ = cluster_id;
  classpath_ = classpath;
  return spawn(timeout, why);
}

void KafkaBroker::restart(std::chrono::seconds timeout) {
  if (jvm_) {
    return;
  }
  if (cluster_id_.empty()) {
    throw std::runtime_error("KafkaBroker::restart before a successful start()");
  }
  std::string why;
  const auto deadline = Clock::now() + timeout;
  // The old JVM's listening socket may linger for a moment after it exited.
  while (!spawn(timeout, why)) {
    const std::string log = read_file(log_path_) + read_file(dir_.file("jvm.out"));
    if (log.find("Address already in use") == std::string::npos || Clock::now() >= deadline) {
      fail(why);
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
}

bool KafkaBroker::spawn(std::chrono::seconds timeout, std::string& why) {
  const std::string props_path = dir_.file("server.properties");
  const std::string log4j_flag = "-Dlog4j.configuration=file:" + dir_.file("log4j.properties");
  const std::string& classpath = classpath_;
  const std::string& cluster_id = cluster_id_;
  // 4. Start the broker and wait for a successful metadata request.
  jvm_ = std::make_unique<ChildProcess>(ChildOptions{
      {"java", "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
       "-Djava.awt.headless=true", "-cp", classpath, log4j_flag, "kafka.Kafka", props_path},
      {},
      dir_.file("jvm.out"),
      dir_.file("jvm.err"),
      {}});
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (!jvm_->running()) {
      const auto st = *jvm_->status();
      jvm_.reset();
      why = fmt::format("the Kafka broker JVM exited during start-up ({})", to_string(st));
      return false;
    }
    if (Clock::now() >= deadline) {
      fail(fmt::format("the Kafka broker at {} did not answer a metadata request within {} s",
                       bootstrap_, timeout.count()));
    }
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(client(), 1, nullptr, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const Metadata owned(md);
      // Our broker, not whatever else may have grabbed the port meanwhile.
      char* id = rd_kafka_clusterid(client(), 1000);
      const bool ours = id != nullptr && cluster_id == id;
      rd_kafka_mem_free(client(), id);
      if (owned->broker_cnt > 0 && ours) {
        return true;
      }
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
}

void KafkaBroker::stop() {
  client_.reset();
  if (!jvm_) {
    return;
  }
  jvm_->kill(SIGTERM);
  if (!jvm_->wait(std::chrono::seconds(10))) {
    jvm_->kill(SIGKILL);
    (void)jvm_->wait(std::chrono::seconds(10));
  }
  jvm_.reset();
}

bool KafkaBroker::running() {
  return jvm_ && jvm_->running();
}

rd_kafka_t* KafkaBroker::client() {
  if (!client_) {
    client_ = make_client(RD_KAFKA_PRODUCER, bootstrap_, dir_.file("clients.log"),
                          {{"client.id", "test-harness"},
                           {"linger.ms", "5"},
                           {"batch.num.messages", "10000"},
                           {"batch.size", "1000000"},
                           {"queue.buffering.max.messages", "2000000"},
                           {"queue.buffering.max.kbytes", "2097151"},
                           {"message.max.bytes", "8388608"},
                           {"enable.idempotence", "true"},
                           {"compression.type", "lz4"},
                           {"topic.metadata.refresh.interval.ms", "1000"}});
  }
  return client_.get();
}

void KafkaBroker::create_topic(const std::string& name, int partitions,
                               const std::map<std::string, std::string>& configs) {
  rd_kafka_t* rk = client();
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  std::string last_error;
  for (bool created = false; !created;) {
    if (Clock::now() >= deadline) {
      fail(fmt::format("creating topic {} failed: {}", name, last_error));
    }
    std::array<char, 512> err{};
    std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter> topic(
        rd_kafka_NewTopic_new(name.c_str(), partitions, 1, err.data(), err.size()));
    if (!topic) {
      throw std::runtime_error(fmt::format("NewTopic {}: {}", name, err.data()));
    }
    for (const auto& [k, v] : configs) {
      if (rd_kafka_NewTopic_set_config(topic.get(), k.c_str(), v.c_str()) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error(fmt::format("topic config {}={} rejected", k, v));
      }
    }
    std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> options(
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
    (void)rd_kafka_AdminOptions_set_operation_timeout(options.get(), 30000, err.data(), err.size());
    (void)rd_kafka_AdminOptions_set_request_timeout(options.get(), 30000, err.data(), err.size());
    std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(rk));
    rd_kafka_NewTopic_t* raw = topic.get();
    rd_kafka_CreateTopics(rk, &raw, 1, options.get(), queue.get());
    std::unique_ptr<rd_kafka_event_t, EventDeleter> event(rd_kafka_queue_poll(queue.get(), 60000));
    if (!event) {
      last_error = "no CreateTopics result within 60 s";
      continue;
    }
    if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      last_error = rd_kafka_event_error_string(event.get());
      std::this_thread::sleep_for(milliseconds(200));
      continue;
    }
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
    std::size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
    if (count != 1) {
      last_error = "unexpected CreateTopics result";
      continue;
    }
    const rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[0]);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR || code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      created = true;
    } else if (code == RD_KAFKA_RESP_ERR_INVALID_CONFIG ||
               code == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS ||
               code == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR ||
               code == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION) {
      fail(fmt::format("creating topic {}: {} ({})", name, rd_kafka_err2name(code),
                       rd_kafka_topic_result_error_string(results[0])
                           ? rd_kafka_topic_result_error_string(results[0])
                           : ""));
    } else {
      last_error = fmt::format("{}: {}", rd_kafka_err2name(code),
                               rd_kafka_topic_result_error_string(results[0])
                                   ? rd_kafka_topic_result_error_string(results[0])
                                   : "");
      std::this_thread::sleep_for(milliseconds(200));
    }
  }

  // Wait until metadata shows every partition with a leader, and the leaders answer.
  const bool ready = wait_until(
      [&] {
        if (partition_count(name) != partitions) {
          return false;
        }
        for (int p = 0; p < partitions; ++p) {
          std::int64_t lo = 0;
          std::int64_t hi = 0;
          if (rd_kafka_query_watermark_offsets(rk, name.c_str(), p, &lo, &hi, 2000) !=
              RD_KAFKA_RESP_ERR_NO_ERROR) {
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds(60), milliseconds(100));
  if (!ready) {
    fail(fmt::format("topic {} was created but its {} partition(s) never became available", name,
                     partitions));
  }
}

void KafkaBroker::produce(const std::string& topic, const std::vector<ProduceMessage>& messages,
                          std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = client();
  DeliveryState state;
  const auto deadline = Clock::now() + timeout;
  for (const auto& m : messages) {
    for (;;) {
      rd_kafka_headers_t* headers = nullptr;
      if (!m.headers.empty()) {
        headers = rd_kafka_headers_new(m.headers.size());
        for (const auto& [k, v] : m.headers) {
          rd_kafka_header_add(headers, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                              static_cast<ssize_t>(v.size()));
        }
      }
      std::array<rd_kafka_vu_t, 7> vus{};
      std::size_t n = 0;
      vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
      vus[n++].u.cstr = topic.c_str();
      vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
      vus[n++].u.i32 = m.partition;
      vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
      vus[n].u.mem.ptr = const_cast<char*>(m.value.data());
      vus[n++].u.mem.size = m.value.size();
      if (!m.key.empty()) {
        vus[n].vtype = RD_KAFKA_VTYPE_KEY;
        vus[n].u.mem.ptr = const_cast<char*>(m.key.data());
        vus[n++].u.mem.size = m.key.size();
      }
      vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
      vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
      vus[n++].u.ptr = &state;
      if (headers != nullptr) {
        vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
        vus[n++].u.headers = headers;
      }
      std::unique_ptr<rd_kafka_error_t, ErrorDeleter> error(rd_kafka_produceva(rk, vus.data(), n));
      if (!error) {
        ++state.pending;
        break;
      }
      if (headers != nullptr) {
        rd_kafka_headers_destroy(headers);  // still ours when produce failed
      }
      if (rd_kafka_error_code(error.get()) != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        throw std::runtime_error(
            fmt::format("produce to {}: {}", topic, rd_kafka_error_string(error.get())));
      }
      if (Clock::now() >= deadline) {
        throw std::runtime_error(
            fmt::format("produce to {}: local queue full until timeout", topic));
      }
      rd_kafka_poll(rk, 10);
    }
    rd_kafka_poll(rk, 0);
  }
  while (state.pending > 0) {
    if (Clock::now() >= deadline) {
      // The delivery callbacks point at `state`: wait them out before leaving this frame.
      rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      (void)rd_kafka_flush(rk, 30000);
      rd_kafka_poll(rk, 0);
      fail(fmt::format("produce to {}: {} message(s) not acknowledged within {} ms", topic,
                       state.pending.load(), timeout.count()));
    }
    (void)rd_kafka_flush(rk, 100);
    rd_kafka_poll(rk, 0);
  }
  if (state.failed > 0) {
    const std::lock_guard lock(state.mutex);
    fail(fmt::format("produce to {}: {} message(s) failed; first: {}", topic, state.failed.load(),
                     state.first_error));
  }
}

int KafkaBroker::partition_count(const std::string& topic) {
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(client(), 1, nullptr, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return 0;
  }
  const Metadata owned(md);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (topic == t.topic) {
      if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return 0;
      }
      for (int p = 0; p < t.partition_cnt; ++p) {
        if (t.partitions[p].err != RD_KAFKA_RESP_ERR_NO_ERROR || t.partitions[p].leader < 0) {
          return 0;
        }
      }
      return t.partition_cnt;
    }
  }
  return 0;
}

std::map<std::int32_t, std::int64_t> KafkaBroker::high_watermarks(const std::string& topic) {
  const int n = partition_count(topic);
  if (n == 0) {
    fail("high_watermarks: unknown topic " + topic);
  }
  std::map<std::int32_t, std::int64_t> out;
  for (std::int32_t p = 0; p < n; ++p) {
    std::int64_t lo = 0;
    std::int64_t hi = 0;
    const auto err = rd_kafka_query_watermark_offsets(client(), topic.c_str(), p, &lo, &hi, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fail(fmt::format("watermarks of {}/{}: {}", topic, p, rd_kafka_err2str(err)));
    }
    out[p] = hi;
  }
  return out;
}

std::vector<ConsumedMessage> KafkaBroker::consume_all(const std::string& topic,
                                                      std::chrono::milliseconds timeout) {
  const auto hw = high_watermarks(topic);
  std::vector<ConsumedMessage> out;
  std::map<std::int32_t, std::int64_t> remaining;  // partition -> high watermark still to reach
  PartitionList assignment(rd_kafka_topic_partition_list_new(static_cast<int>(hw.size())));
  for (const auto& [p, hi] : hw) {
    if (hi > 0) {
      remaining[p] = hi;
      rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  if (remaining.empty()) {
    return out;
  }
  KafkaHandle consumer = make_client(RD_KAFKA_CONSUMER, bootstrap_, dir_.file("clients.log"),
                                     {{"group.id", "test-harness-reader-" + random_suffix()},
                                      {"client.id", "test-harness-reader"},
                                      {"enable.auto.commit", "false"},
                                      {"enable.auto.offset.store", "false"},
                                      {"auto.offset.reset", "earliest"},
                                      {"fetch.max.bytes", "52428800"},
                                      {"max.partition.fetch.bytes", "8388608"},
                                      {"receive.message.max.bytes", "104857600"}});
  rd_kafka_poll_set_consumer(consumer.get());
  if (auto err = rd_kafka_assign(consumer.get(), assignment.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail(fmt::format("consume_all {}: assign: {}", topic, rd_kafka_err2str(err)));
  }
  const auto deadline = Clock::now() + timeout;
  while (!remaining.empty()) {
    if (Clock::now() >= deadline) {
      std::string left;
      for (const auto& [p, hi] : remaining) {
        left += fmt::format(" {}(hw {})", p, hi);
      }
      rd_kafka_consumer_close(consumer.get());
      fail(
          fmt::format("consume_all {}: not finished within {} ms; {} message(s) read; partitions "
                      "left:{}",
                      topic, timeout.count(), out.size(), left));
    }
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer.get(), 200);
    if (msg == nullptr) {
      continue;
    }
    const std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> owned(
        msg, rd_kafka_message_destroy);
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        continue;
      }
      rd_kafka_consumer_close(consumer.get());
      fail(fmt::format("consume_all {}: {}", topic, rd_kafka_message_errstr(msg)));
    }
    auto it = remaining.find(msg->partition);
    if (it == remaining.end() || msg->offset >= it->second) {
      continue;  // past the high watermark taken at the start
    }
    ConsumedMessage m;
    m.partition = msg->partition;
    m.offset = msg->offset;
    if (msg->key != nullptr) {
      m.key.assign(static_cast<const char*>(msg->key), msg->key_len);
    }
    if (msg->payload != nullptr) {
      m.value.assign(static_cast<const char*>(msg->payload), msg->len);
    }
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(msg, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        headers != nullptr) {
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      for (std::size_t i = 0;
           rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        m.headers.emplace_back(name, value != nullptr
                                         ? std::string(static_cast<const char*>(value), size)
                                         : std::string());
      }
    }
    out.push_back(std::move(m));
    if (msg->offset + 1 >= it->second) {
      remaining.erase(it);
    }
  }
  rd_kafka_consumer_close(consumer.get());
  return out;
}

std::map<std::int32_t, std::int64_t> KafkaBroker::committed_offsets(const std::string& group,
                                                                    const std::string& topic) {
  const int n = partition_count(topic);
  if (n == 0) {
    fail("committed_offsets: unknown topic " + topic);
  }
  KafkaHandle consumer = make_client(RD_KAFKA_CONSUMER, bootstrap_, dir_.file("clients.log"),
                                     {{"group.id", group},
                                      {"client.id", "test-harness-committed"},
                                      {"enable.auto.commit", "false"}});
  PartitionList list(rd_kafka_topic_partition_list_new(n));
  for (std::int32_t p = 0; p < n; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  }
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int attempt = 0; attempt < 10; ++attempt) {
    err = rd_kafka_committed(consumer.get(), list.get(), 10000);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail(fmt::format("committed offsets of group {}: {}", group, rd_kafka_err2str(err)));
  }
  std::map<std::int32_t, std::int64_t> out;
  for (int i = 0; i < list->cnt; ++i) {
    out[list->elems[i].partition] = list->elems[i].offset;
  }
  rd_kafka_consumer_close(consumer.get());
  return out;
}

}  // namespace bridge::harness

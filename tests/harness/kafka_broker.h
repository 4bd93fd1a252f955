#pragma once
// A real Apache Kafka broker (KRaft, single node, combined broker+controller) on loopback for
// integration tests, plus the client-side helpers the tests need: topic creation, a fast batch
// producer, reading a whole topic back (with headers), watermarks and a group's committed offsets.
//
// The broker's jars come from tools/kafka/fetch.sh (Maven Central, cached). Each KafkaBroker runs
// its own JVM with its own ports and data directory; the destructor stops it. Start-up failures
// throw std::runtime_error carrying the tail of the broker's log.
//
// Threading: start/stop/create_topic from one thread; produce(), high_watermarks(),
// consume_all() and committed_offsets() may run concurrently once start() returned.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/harness/process.h"

namespace bridge::harness {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct ProduceMessage {
  std::string key;
  std::string value;
  Headers headers;
  std::int32_t partition = RD_KAFKA_PARTITION_UA;  // unassigned: the partitioner picks (by key)
};

struct ConsumedMessage {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string key;
  std::string value;
  Headers headers;

  // The value of the first header named `name`, or "" when absent.
  [[nodiscard]] std::string header(const std::string& name) const;
  [[nodiscard]] bool has_header(const std::string& name) const;
};

struct KafkaDeleterH {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleterH>;

class KafkaBroker {
 public:
  KafkaBroker();
  ~KafkaBroker();
  KafkaBroker(const KafkaBroker&) = delete;
  KafkaBroker& operator=(const KafkaBroker&) = delete;

  // Fetches the jars (first run downloads), formats a fresh log dir, starts the JVM and waits
  // until a metadata request succeeds. Throws with the broker log's tail on failure.
  void start(std::chrono::seconds timeout = std::chrono::seconds(120));
  // Stops the broker (SIGTERM, then SIGKILL after a few seconds). Idempotent.
  void stop();
  // Starts a stopped broker again with the same ports, data directory and cluster id: clients
  // reconnect to the same bootstrap address and find their topics, records and committed
  // offsets. Throws with the log's tail when it does not come up within `timeout`.
  void restart(std::chrono::seconds timeout = std::chrono::seconds(120));
  [[nodiscard]] bool running();

  [[nodiscard]] const std::string& bootstrap() const { return bootstrap_; }
  [[nodiscard]] std::string log_tail(std::size_t lines = 60) const;
  [[nodiscard]] const std::string& dir() const { return dir_.path(); }

  // Creates a topic (replication factor 1) and waits until metadata shows every partition with
  // a leader. `configs` are topic configs, e.g. {{"max.message.bytes", "4194304"}}.
  void create_topic(const std::string& name, int partitions,
                    const std::map<std::string, std::string>& configs = {});

  // Produces every message and waits for all delivery reports; throws on any delivery error.
  // Messages up to 8 MiB are accepted by the client (the topic's max.message.bytes still
  // applies).
  void produce(const std::string& topic, const std::vector<ProduceMessage>& messages,
               std::chrono::milliseconds timeout = std::chrono::seconds(120));

  // Number of partitions of `topic` according to metadata (0 when unknown).
  [[nodiscard]] int partition_count(const std::string& topic);
  // partition -> high watermark (next offset to be written).
  [[nodiscard]] std::map<std::int32_t, std::int64_t> high_watermarks(const std::string& topic);
  // Reads every partition of `topic` from the beginning up to its high watermark (taken at the
  // start of the call). Throws when that does not finish within `timeout`.
  [[nodiscard]] std::vector<ConsumedMessage> consume_all(
      const std::string& topic, std::chrono::milliseconds timeout = std::chrono::seconds(120));
  // partition -> committed offset of `group` (-1 / RD_KAFKA_OFFSET_INVALID when none).
  [[nodiscard]] std::map<std::int32_t, std::int64_t> committed_offsets(const std::string& group,
                                                                       const std::string& topic);

 private:
  // Writes the config, formats a fresh data directory and starts the JVM; false (and `why`) when
  // the JVM exited during start-up. Throws on other failures.
  bool launch(const std::string& jars, int attempt, std::chrono::seconds timeout, std::string& why);
  // Starts the JVM on the configured and formatted directory and waits for a metadata answer
  // from this cluster; false (and `why`) when the JVM exited during start-up.
  bool spawn(std::chrono::seconds timeout, std::string& why);
  rd_kafka_t* client();  // producer handle used for produce, admin and metadata
  [[noreturn]] void fail(const std::string& what) const;

  TempDir dir_{"capillary-kafka"};
  std::unique_ptr<ChildProcess> jvm_;
  std::string bootstrap_;
  std::string log_path_;
  std::string classpath_;   // set by a successful format, reused by restart()
  std::string cluster_id_;  // likewise
  KafkaHandle client_;
};

}  // namespace bridge::harness

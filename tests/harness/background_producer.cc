#include "tests/harness/background_producer.h"

#include <fmt/format.h>

#include <algorithm>

#include "tests/harness/bridge.h"

namespace bridge::harness {

BackgroundProducer::BackgroundProducer(KafkaBroker& broker, std::string topic,
                                       BackgroundProducerOptions options)
    : broker_(broker),
      topic_(std::move(topic)),
      options_(std::move(options)),
      thread_([this] { loop(); }) {}

BackgroundProducer::~BackgroundProducer() {
  stop();
}

void BackgroundProducer::stop() {
  stop_.store(true);
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::string BackgroundProducer::id(int n) const {
  return fmt::format("{}{:07}", options_.id_prefix, n);
}

std::vector<std::string> BackgroundProducer::ids() const {
  std::vector<std::string> out;
  const int n = produced_.load();
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    out.push_back(id(i));
  }
  return out;
}

void BackgroundProducer::loop() {
  try {
    while (!stop_.load()) {
      const int first = produced_.load();
      int count = options_.batch;
      if (options_.limit > 0) {
        count = std::min(count, options_.limit - first);
        if (count <= 0) {
          break;
        }
      }
      std::vector<ProduceMessage> batch;
      batch.reserve(static_cast<std::size_t>(count));
      for (int i = first; i < first + count; ++i) {
        batch.push_back({fmt::format("cust-{}", i % options_.customers),
                         make_event(id(i)),
                         {},
                         RD_KAFKA_PARTITION_UA});
      }
      broker_.produce(topic_, batch);
      produced_.store(first + count);
      std::this_thread::sleep_for(options_.interval);
    }
  } catch (const std::exception& e) {
    error_ = e.what();
  }
  finished_.store(true);
}

}  // namespace bridge::harness

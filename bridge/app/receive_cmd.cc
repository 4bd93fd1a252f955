#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>

#include "bridge/app/app.h"
#include "bridge/app/components.h"
#include "bridge/metrics/http_server.h"
#include "bridge/receiver/receiver.h"

namespace bridge::app {

core::Result<std::unique_ptr<receiver::Receiver>> start_receiver(const config::Config& cfg,
                                                                 metrics::Metrics& metrics) {
  if (!cfg.receiver.present) {
    return core::fail(core::ErrorKind::permanent, "receiver-config",
                      "the configuration has no receiver: block (listen, paths with auth)");
  }
  return receiver::Receiver::start(cfg.receiver, cfg.kafka, metrics);
}

int receive(const std::string& config_path) {
  const auto validated = start_command(config_path, "receiving webhooks");
  if (!validated) {
    return kExitConfig;
  }
  const config::Config& cfg = validated->config;
  metrics::Metrics metrics;
  auto rx = start_receiver(cfg, metrics);
  if (!rx) {
    spdlog::critical("{}", rx.error().message);
    return rx.error().kind == core::ErrorKind::permanent ? kExitConfig : kExitFailure;
  }
  receiver::Receiver& receiver = **rx;
  auto http = metrics::HttpServer::start(
      cfg.metrics.listen, metrics,
      {[&receiver] { return receiver.healthy(); }, [&receiver] { return receiver.ready(); }, {}});
  if (!http) {
    spdlog::critical("{}", http.error().message);
    return kExitFailure;
  }
  spdlog::info("metrics on http://{}/metrics", cfg.metrics.listen);

  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  {
    StopSignalWatcher watcher([&] {
      std::lock_guard lock(mu);
      stop = true;
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    // A fatal producer error ends the process too: it can deliver nothing more, and a restart
    // gets a new producer (what Kubernetes does on a failed liveness probe anyway).
    while (!stop && receiver.healthy()) {
      cv.wait_for(lock, std::chrono::seconds(1));
    }
  }
  if (!receiver.healthy()) {
    spdlog::critical(
        "the Kafka producer failed for good: stopping (nothing unacknowledged was "
        "answered 200)");
    receiver.shutdown(std::chrono::milliseconds(0));
    return kExitFailure;
  }
  const bool clean = receiver.shutdown();
  const auto counts = receiver.counts();
  spdlog::info("stopped: {} events produced, {} requests answered", counts.events_produced,
               counts.requests);
  return clean ? kExitOk : kExitUndelivered;
}

}  // namespace bridge::app

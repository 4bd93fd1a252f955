#pragma once
// The operator endpoint: /metrics (Prometheus text exposition), /healthz (the process is alive
// and its pipeline thread is turning) and /readyz (partitions assigned and the sink reachable).
// Served by civetweb on its own threads; the probes below must be thread-safe.

#include <functional>
#include <memory>
#include <string>

#include "bridge/core/result.h"
#include "bridge/metrics/metrics.h"

class CivetServer;

namespace bridge::metrics {

struct Probes {
  std::function<bool()> healthy;  // liveness
  std::function<bool()> ready;    // readiness
  // Lines appended to /readyz's body whatever its answer: a standing warning for operators
  // (allow_insecure_http in use). Empty: nothing.
  std::string ready_note;
};

class HttpServer {
 public:
  // Listens on "host:port" (port 0 picks a free port). Startup code.
  static core::Result<std::unique_ptr<HttpServer>> start(const std::string& listen,
                                                         const Metrics& metrics, Probes probes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  [[nodiscard]] int port() const { return port_; }

 private:
  struct Handlers;
  HttpServer() = default;
  std::unique_ptr<Handlers> handlers_;
  std::unique_ptr<CivetServer> server_;
  int port_ = 0;
};

}  // namespace bridge::metrics

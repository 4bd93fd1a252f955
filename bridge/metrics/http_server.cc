#include "bridge/metrics/http_server.h"

#include <CivetServer.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace bridge::metrics {
namespace {

void reply(mg_connection* conn, int status, std::string_view content_type, std::string_view body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
            "Connection: close\r\n\r\n",
            status, status == 200 ? "OK" : "Service Unavailable",
            static_cast<int>(content_type.size()), content_type.data(), body.size());
  mg_write(conn, body.data(), body.size());
}

class MetricsHandler final : public CivetHandler {
 public:
  explicit MetricsHandler(const Metrics& metrics) : metrics_(metrics) {}
  // civetweb's threads call this: nothing may escape (a failed scrape is not a failed process).
  bool handleGet(CivetServer*, mg_connection* conn) override {
    try {
      reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", metrics_.expose());
    } catch (const std::exception& e) {
      spdlog::error("/metrics failed: {}", e.what());
      reply(conn, 500, "text/plain", "metrics unavailable\n");
    }
    return true;
  }

 private:
  const Metrics& metrics_;
};

class ProbeHandler final : public CivetHandler {
 public:
  explicit ProbeHandler(std::function<bool()> probe, std::string note = {})
      : probe_(std::move(probe)), note_(std::move(note)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    bool ok = false;
    try {
      ok = !probe_ || probe_();
    } catch (const std::exception& e) {
      spdlog::error("probe failed: {}", e.what());
    }
    const std::string body = std::string(ok ? "ok\n" : "not ready\n") + note_;
    reply(conn, ok ? 200 : 503, "text/plain", body);
    return true;
  }

 private:
  std::function<bool()> probe_;
  std::string note_;
};

}  // namespace

struct HttpServer::Handlers {
  Handlers(const Metrics& source, Probes probes)
      : metrics(source),
        healthz(std::move(probes.healthy)),
        readyz(std::move(probes.ready), std::move(probes.ready_note)) {}
  MetricsHandler metrics;
  ProbeHandler healthz;
  ProbeHandler readyz;
};

core::Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen,
                                                            const Metrics& metrics, Probes probes) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->handlers_ = std::make_unique<Handlers>(metrics, std::move(probes));
  const std::vector<std::string> options = {"listening_ports", listen, "num_threads", "2"};
  try {
    server->server_ = std::make_unique<CivetServer>(options);
  } catch (const CivetException& e) {
    return core::fail(core::ErrorKind::fatal, "metrics-listen",
                      fmt::format("cannot listen on {} for /metrics: {}", listen, e.what()));
  }
  server->server_->addHandler("/metrics", server->handlers_->metrics);
  server->server_->addHandler("/healthz", server->handlers_->healthz);
  server->server_->addHandler("/readyz", server->handlers_->readyz);
  const auto ports = server->server_->getListeningPorts();
  server->port_ = ports.empty() ? 0 : ports.front();
  return server;
}

HttpServer::~HttpServer() {
  if (server_) {
    server_->close();
  }
}

}  // namespace bridge::metrics

// The operator endpoint over real HTTP (libcurl against civetweb on a free loopback port):
// Prometheus exposition with the bridge's metric names, liveness and readiness probes, and the
// cap on event-name label values (event names come from input).
#include "bridge/metrics/metrics.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "bridge/metrics/http_server.h"

namespace bridge::metrics {
namespace {

struct Response {
  long status = 0;
  std::string body;
  std::string content_type;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

Response get(int port, const std::string& path) {
  Response r;
  CURL* curl = curl_easy_init();
  const std::string url = fmt::format("http://127.0.0.1:{}{}", port, path);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    char* type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    r.content_type = type != nullptr ? type : "";
  }
  curl_easy_cleanup(curl);
  return r;
}

TEST(MetricsEndpoint, ServesExpositionAndProbes) {
  Metrics metrics;
  std::atomic<bool> ready{false};
  auto server = HttpServer::start("127.0.0.1:0", metrics,
                                  {[] { return true; }, [&ready] { return ready.load(); }, {}});
  ASSERT_TRUE(server) << server.error().message;
  const int port = (*server)->port();
  ASSERT_GT(port, 0);

  metrics.records_delivered.Increment(41);
  metrics.consumed("capillary.events").Increment(45);
  metrics.dead_lettered("capillary.events", metrics.event_label("pointsIssued"), "unmapped")
      .Increment();
  metrics.sink_latency_seconds.Observe(0.002);

  const auto m = get(port, "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.content_type.find("text/plain"), std::string::npos) << m.content_type;
  for (const char* line : {
           "capillary_bridge_records_delivered_total 41",
           "capillary_bridge_records_consumed_total{topic=\"capillary.events\"} 45",
           "capillary_bridge_records_dead_lettered_total{event=\"pointsIssued\",reason="
           "\"unmapped\","
           "topic=\"capillary.events\"} 1",
           "capillary_bridge_sink_latency_seconds_count 1",
           "# TYPE capillary_bridge_inflight_bytes gauge",
           "capillary_bridge_build_info{",
       }) {
    EXPECT_NE(m.body.find(line), std::string::npos) << "missing: " << line << "\n" << m.body;
  }

  EXPECT_EQ(get(port, "/healthz").status, 200);
  EXPECT_EQ(get(port, "/readyz").status, 503);
  ready = true;
  EXPECT_EQ(get(port, "/readyz").status, 200);
  EXPECT_EQ(get(port, "/nope").status, 404);
}

TEST(MetricsEndpoint, ReadinessCarriesAStandingNote) {
  Metrics metrics;
  std::atomic<bool> ready{false};
  auto server = HttpServer::start(
      "127.0.0.1:0", metrics,
      {[] { return true; }, [&ready] { return ready.load(); }, "warning: insecure\n"});
  ASSERT_TRUE(server) << server.error().message;
  const auto not_ready = get((*server)->port(), "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(not_ready.body, "not ready\nwarning: insecure\n");
  ready = true;
  const auto is_ready = get((*server)->port(), "/readyz");
  EXPECT_EQ(is_ready.status, 200);
  EXPECT_EQ(is_ready.body, "ok\nwarning: insecure\n");
  EXPECT_EQ(get((*server)->port(), "/healthz").body, "ok\n");  // liveness carries no note
}

TEST(MetricsEndpoint, UnhealthyPipelineFailsLiveness) {
  Metrics metrics;
  auto server =
      HttpServer::start("127.0.0.1:0", metrics, {[] { return false; }, [] { return false; }, {}});
  ASSERT_TRUE(server) << server.error().message;
  EXPECT_EQ(get((*server)->port(), "/healthz").status, 503);
}

TEST(MetricsEndpoint, PortInUseIsAnErrorNotACrash) {
  Metrics metrics;
  auto first =
      HttpServer::start("127.0.0.1:0", metrics, {[] { return true; }, [] { return true; }, {}});
  ASSERT_TRUE(first);
  auto second = HttpServer::start(fmt::format("127.0.0.1:{}", (*first)->port()), metrics,
                                  {[] { return true; }, [] { return true; }, {}});
  EXPECT_FALSE(second);
}

TEST(Metrics, EventLabelsAreCapped) {
  Metrics metrics;
  for (std::size_t i = 0; i < Metrics::kMaxEventLabels; ++i) {
    EXPECT_EQ(metrics.event_label(fmt::format("event{}", i)), fmt::format("event{}", i));
  }
  EXPECT_EQ(metrics.event_label("one-too-many"), "other");
  EXPECT_EQ(metrics.event_label("event7"), "event7");  // known names keep their label
}

}  // namespace
}  // namespace bridge::metrics

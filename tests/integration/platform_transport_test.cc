// The Platform sink's HTTP transport alone (bridge/platform/transport.h) against the emulator:
// every POST comes back exactly once with its tag, its status and body, Retry-After as sent,
// and transport failures (refused connection, request timeout) as libcurl codes, not statuses.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bridge/emulator/server.h"
#include "bridge/platform/transport.h"

namespace bridge::platform {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::unique_ptr<emulator::Server> start_emulator(emulator::Options o = {}) {
  o.seed = 11;
  auto server = emulator::Server::start(std::move(o));
  if (!server) {
    throw std::runtime_error(server.error().message);
  }
  return std::move(*server);
}

std::string batch_url(const emulator::Server& server) {
  return server.base_url() + "/collection/batch/0123456789abcdef";
}

config::PlatformSinkConfig settings(std::int64_t concurrency = 4) {
  config::PlatformSinkConfig c;
  c.concurrency = concurrency;
  c.request_timeout = seconds(10);
  c.connect_timeout = seconds(2);
  return c;
}

// Drives `t` until `count` exchanges ended or 15 s passed.
std::vector<HttpTransport::Exchange> run(HttpTransport& t, std::size_t count) {
  std::vector<HttpTransport::Exchange> ended;
  const auto deadline = std::chrono::steady_clock::now() + seconds(15);
  while (ended.size() < count && std::chrono::steady_clock::now() < deadline) {
    t.perform(ended);
    if (ended.size() < count) {
      t.wait(milliseconds(20));
    }
  }
  return ended;
}

const std::string kBody =
    R"({"messages":[{"header":{"datasetId":"6553f0a1b2c3d4e5f6a7b802"},"body":{"xdmEntity":{"_id":"x"}}}]})";

TEST(PlatformTransportTest, EveryPostComesBackOnceWithItsTagAndStatus) {
  auto server = start_emulator();  // requires a token: every answer is a 401
  const auto cfg = settings();
  HttpTransport t(cfg);
  const std::string url = batch_url(*server);
  std::vector<int> tags(12);
  for (int& tag : tags) {
    ASSERT_FALSE(t.post(url, nullptr, kBody, &tag).has_value());
  }
  EXPECT_EQ(t.in_flight(), tags.size());
  const auto ended = run(t, tags.size());
  ASSERT_EQ(ended.size(), tags.size());
  std::map<const void*, int> seen;
  for (const auto& e : ended) {
    ++seen[e.tag];
    EXPECT_EQ(e.rc, CURLE_OK);
    EXPECT_EQ(e.status, 401) << e.response;  // no token: an HTTP answer, not a transport error
    EXPECT_FALSE(e.response.empty());
    EXPECT_GT(e.elapsed.count(), 0);
  }
  for (const int& tag : tags) {
    EXPECT_EQ(seen[&tag], 1);
  }
  EXPECT_EQ(t.in_flight(), 0U);
}

TEST(PlatformTransportTest, AnswersBodiesAndRetryAfterAsSent) {
  emulator::Options o;
  o.require_auth = false;
  auto server = start_emulator(o);
  const auto cfg = settings();
  HttpTransport t(cfg);
  int tag = 0;
  const std::string url = batch_url(*server);
  ASSERT_FALSE(t.post(url, nullptr, kBody, &tag).has_value());
  auto ended = run(t, 1);
  ASSERT_EQ(ended.size(), 1U);
  EXPECT_EQ(ended[0].rc, CURLE_OK);
  EXPECT_TRUE(ended[0].status == 200 || ended[0].status == 207) << ended[0].status;
  EXPECT_NE(ended[0].response.find("responses"), std::string::npos) << ended[0].response;
  EXPECT_TRUE(ended[0].retry_after.empty());

  server->set_faults([] {
    emulator::Faults f;
    f.storm = seconds(30);
    f.retry_after = "7";
    return f;
  }());
  ASSERT_FALSE(t.post(url, nullptr, kBody, &tag).has_value());
  ended = run(t, 1);
  ASSERT_EQ(ended.size(), 1U);
  EXPECT_EQ(ended[0].status, 429);
  EXPECT_NE(ended[0].retry_after.find('7'), std::string::npos) << ended[0].retry_after;
}

TEST(PlatformTransportTest, TransportFailuresAreCurlCodes) {
  // A refused connection: a port the emulator listened on, now closed.
  std::string url;
  {
    auto server = start_emulator();
    url = batch_url(*server);
  }
  const auto cfg = settings();
  HttpTransport t(cfg);
  int tag = 0;
  ASSERT_FALSE(t.post(url, nullptr, kBody, &tag).has_value());
  auto ended = run(t, 1);
  ASSERT_EQ(ended.size(), 1U);
  EXPECT_EQ(ended[0].rc, CURLE_COULDNT_CONNECT) << curl_easy_strerror(ended[0].rc);
  EXPECT_EQ(ended[0].status, 0);

  // No answer within the request timeout.
  emulator::Options o;
  o.faults.hang_rate = 1.0;
  auto server = start_emulator(o);
  auto short_cfg = settings();
  short_cfg.request_timeout = milliseconds(300);
  HttpTransport slow(short_cfg);
  ASSERT_FALSE(slow.post(batch_url(*server), nullptr, kBody, &tag).has_value());
  ended = run(slow, 1);
  ASSERT_EQ(ended.size(), 1U);
  EXPECT_EQ(ended[0].rc, CURLE_OPERATION_TIMEDOUT) << curl_easy_strerror(ended[0].rc);
}

}  // namespace
}  // namespace bridge::platform

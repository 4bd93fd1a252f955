// The NDJSON file sink: one line per output in the order sent, delivered verdicts for a good
// write, retry verdicts (and not ready) when the device refuses the bytes.
#include "bridge/sink/file_sink.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace bridge::sink {
namespace {

std::vector<Message> messages(const std::vector<std::string>& bodies) {
  static const transforms::Target target = [] {
    transforms::Target t;
    t.name = "default";
    return t;
  }();
  std::vector<Message> out;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    Message m{};
    m.ticket = i;
    m.kind = transforms::OutputKind::raw;
    m.target = &target;
    m.body = bodies[i];
    out.push_back(m);
  }
  return out;
}

TEST(FileSink, WritesOneLinePerOutputInOrderAndDelivers) {
  const std::string path = ::testing::TempDir() + "/file_sink_test.ndjson";
  std::remove(path.c_str());
  auto sink = FileSink::open(path, false);
  ASSERT_TRUE(sink) << sink.error().message;
  const std::vector<std::string> bodies{R"({"a":1})", R"({"b":"x"})", R"({"c":[1,2]})"};
  const auto batch = messages(bodies);
  (*sink)->send(batch);
  std::vector<Outcome> outcomes;
  (*sink)->poll(outcomes, std::chrono::milliseconds(0));
  ASSERT_EQ(outcomes.size(), 3U);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_EQ(outcomes[i].ticket, i);
    EXPECT_EQ(outcomes[i].verdict, Verdict::delivered);
  }
  EXPECT_TRUE((*sink)->ready());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), bodies[0] + "\n" + bodies[1] + "\n" + bodies[2] + "\n");
  std::remove(path.c_str());
}

TEST(FileSink, AFullDeviceAsksForRetryAndIsNotReady) {
  auto sink = FileSink::open("/dev/full", false);
  ASSERT_TRUE(sink) << sink.error().message;
  (*sink)->send(messages({R"({"a":1})", R"({"b":2})"}));
  std::vector<Outcome> outcomes;
  (*sink)->poll(outcomes, std::chrono::milliseconds(0));
  ASSERT_EQ(outcomes.size(), 2U);
  for (const auto& o : outcomes) {
    EXPECT_EQ(o.verdict, Verdict::retry);
    EXPECT_FALSE(o.reason.empty());
    EXPECT_NE(o.message.find("No space left on device"), std::string::npos)
        << "the OS error, not just a code: " << o.message;
  }
  EXPECT_FALSE((*sink)->ready());
}

TEST(FileSink, UnwritablePathIsAnErrorAtOpen) {
  auto sink = FileSink::open("/nonexistent-dir/out.ndjson", false);
  ASSERT_FALSE(sink);
  EXPECT_NE(sink.error().message.find("/nonexistent-dir/out.ndjson"), std::string::npos);
}

}  // namespace
}  // namespace bridge::sink

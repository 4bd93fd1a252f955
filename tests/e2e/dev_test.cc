// `capillary-bridge dev`, the whole binary with its embedded broker and sample events:
// - with --exit-when-done it delivers the seeded sample events through the platform sink (IMS
//   token, batch endpoint) to its embedded platform emulator and exits 0; what the emulator
//   accepted (the output file) is exactly what `capillary-bridge transform` makes of the same
//   samples with the same config (the pipeline and the CLI agree, message for message);
// - without it, it keeps serving: /metrics counts exactly what reached the output, /healthz
//   answers 200, and SIGTERM exits 0;
// - the `curl` line it prints, run by a shell, POSTs a webhook to its receiver: the event goes
//   POST -> Kafka -> pipeline -> Platform emulator and is accepted with the same message (and
//   `_id`) the `transform` command makes of that event, and the progress line counts it.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>

#include "tests/harness/bridge.h"
#include "tests/harness/process.h"

namespace bridge::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Non-empty lines of a JSONL file in the source tree.
std::vector<std::string> sample_lines(const std::string& relative) {
  std::vector<std::string> out;
  for (auto& line : read_ndjson(source_dir() + "/" + relative)) {
    if (!line.empty()) {
      out.push_back(std::move(line));
    }
  }
  return out;
}

// What the catalogue makes of the samples, by the `transform` command with config/dev.yaml: the
// entities of the Platform streaming messages (byte for byte what the platform sink sends after
// the header and xdmMeta, whose ids are dev.yaml's defaults here and what `platform setup` created
// in `dev`) and the number of rejected samples.
struct Expected {
  std::multiset<std::string> bodies;
  std::size_t rejected = 0;
};

Expected expected_from_cli() {
  TempDir dir("capillary-e2e-cli");
  const TransformRun run = run_transform(dir, source_dir() + "/config/dev.yaml",
                                         source_dir() + "/config/samples/capillary-events.jsonl",
                                         {{"CAPILLARY_BRIDGE_DEV_BROKERS", "127.0.0.1:9"}});
  Expected e;
  for (const auto& line : run.messages) {
    if (line.find("\"xdmEntity\":") == std::string::npos) {
      throw std::runtime_error("not a streaming message: " + line);
    }
    e.bodies.insert(streaming_entity(line));
  }
  e.rejected = run.rejects.size();
  return e;
}

ChildOptions dev_command(const TempDir& dir, const std::string& output, std::uint16_t port,
                         bool exit_when_done) {
  ChildOptions o;
  o.args = {bridge_binary(),    "dev",
            "--output",         output,
            "--metrics-listen", fmt::format("127.0.0.1:{}", port)};
  if (exit_when_done) {
    o.args.emplace_back("--exit-when-done");
  }
  o.stdout_path = dir.file("dev.out");
  o.stderr_path = dir.file("dev.err");
  o.cwd = dir.path();
  return o;
}

std::string logs(const ChildProcess& p) {
  return fmt::format("--- stdout ---\n{}--- stderr ---\n{}", p.stdout_tail(), p.stderr_tail());
}

TEST(DevCommandTest, ExitWhenDoneDeliversTheSampleEvents) {
  TempDir dir("capillary-e2e");
  const std::string output = dir.file("out.ndjson");
  ChildProcess dev(dev_command(dir, output, free_port(), true));
  const auto st = dev.wait(seconds(120));
  ASSERT_TRUE(st) << "dev --exit-when-done still running after 120 s\n" << logs(dev);
  EXPECT_TRUE(st->exited && st->code == 0) << to_string(*st) << "\n" << logs(dev);

  const auto lines = read_ndjson(output);
  ASSERT_FALSE(lines.empty()) << "no output\n" << logs(dev);
  // What the embedded Platform emulator accepted is exactly what the transform command makes of
  // the samples: the same messages, each once.
  const Expected expected = expected_from_cli();
  ASSERT_FALSE(expected.bodies.empty());
  std::multiset<std::string> got;
  for (const auto& line : lines) {
    got.insert(streaming_entity(line));
    // dev ran `platform setup` first and streams with the ids it created, not dev.yaml's defaults.
    EXPECT_EQ(line.find("6553f0a1b2c3d4e5f6a7b80"), std::string::npos) << line.substr(0, 300);
    EXPECT_TRUE(std::regex_search(line, std::regex(R"re("flowId":"[0-9a-f]{8}-[0-9a-f]{4}-4)re")))
        << line.substr(0, 300);
  }
  EXPECT_NE(dev.stderr_tail(200).find("platform setup        : 15 objects"), std::string::npos)
      << logs(dev);
  for (const auto& body : expected.bodies) {
    EXPECT_EQ(got.count(body), expected.bodies.count(body))
        << "output missing or duplicated: " << body.substr(0, 300);
  }
  for (const auto& line : got) {
    EXPECT_TRUE(expected.bodies.contains(line)) << "unexpected output: " << line.substr(0, 300);
  }
  const auto samples = sample_lines("config/samples/capillary-events.jsonl");
  const auto malformed = sample_lines("config/samples/malformed.jsonl");
  std::cerr << fmt::format(
      "dev: {} output lines from {} samples ({} rejected by the catalogue) + {} malformed\n",
      lines.size(), samples.size(), expected.rejected, malformed.size());
  EXPECT_TRUE(dev.stderr_tail(200).find("summary:") != std::string::npos) << logs(dev);
}

// An output file that cannot be written (a read-only root filesystem, a missing directory) is not
// a clean run: exit 1 naming the file, after the events were delivered.
TEST(DevCommandTest, AnUnwritableOutputFileIsAFailure) {
  TempDir dir("capillary-e2e");
  const std::string output = dir.file("missing-dir/out.ndjson");
  ChildProcess dev(dev_command(dir, output, free_port(), true));
  const auto st = dev.wait(seconds(120));
  ASSERT_TRUE(st) << "dev --exit-when-done still running after 120 s\n" << logs(dev);
  EXPECT_TRUE(st->exited && st->code == 1) << to_string(*st) << "\n" << logs(dev);
  EXPECT_NE(dev.stderr_tail(50).find("could not be written to " + output), std::string::npos)
      << logs(dev);
  EXPECT_NE(dev.stderr_tail(50).find("summary:"), std::string::npos) << logs(dev);
}

TEST(DevCommandTest, MetricsMatchTheOutputAndSigtermExitsCleanly) {
  TempDir dir("capillary-e2e");
  const std::string output = dir.file("out.ndjson");
  const std::uint16_t port = free_port();
  ChildOptions options = dev_command(dir, output, port, false);
  // The IMS secret from the environment, as an operator would pass it (the embedded emulator's).
  options.env["CAPILLARY_BRIDGE_DEV_SECRET"] = "dev-secret";
  // Dumpable, so that /proc/PID/environ can be read by a test that is not root (secret_test
  // checks that the process is not dumpable without the flag).
  options.args.insert(options.args.begin() + 1, "--allow-core-dumps");
  ChildProcess dev(std::move(options));

  // Every sample the catalogue maps is delivered, and every other one (unmapped, rejected,
  // malformed) dead-lettered (the first test checks the output itself); poll until the counters
  // say so and match the output file.
  const auto samples = sample_lines("config/samples/capillary-events.jsonl");
  const auto malformed = sample_lines("config/samples/malformed.jsonl");
  const Expected expected = expected_from_cli();
  const double want_delivered = static_cast<double>(samples.size() - expected.rejected);
  const double want_dead = static_cast<double>(malformed.size() + expected.rejected);
  std::optional<double> delivered;
  std::optional<double> dead_lettered;
  std::size_t lines = 0;
  std::string history;  // how the counter moved, for the failure message
  const bool ok = wait_until(
      [&] {
        if (!dev.running()) {
          return true;
        }
        const auto r = http_get("127.0.0.1", port, "/metrics");
        if (r.status != 200) {
          return false;
        }
        const auto before = delivered;
        delivered = metric_sum(r.body, "capillary_bridge_records_delivered_total");
        dead_lettered = metric_sum(r.body, "capillary_bridge_records_dead_lettered_total");
        lines = read_ndjson(output).size();
        if (delivered != before) {
          history += fmt::format(" {}", delivered.value_or(-1));
        }
        return delivered.value_or(0) > 0 && *delivered == want_delivered &&
               static_cast<std::size_t>(lines) == expected.bodies.size() &&
               dead_lettered.value_or(0) == want_dead;
      },
      seconds(120), milliseconds(200));
  ASSERT_TRUE(dev.running()) << "dev exited without --exit-when-done\n" << logs(dev);
  ASSERT_TRUE(ok) << "capillary_bridge_records_delivered_total=" << delivered.value_or(-1)
                  << " (expected " << want_delivered << "; went" << history
                  << "), output lines=" << lines << " (expected " << expected.bodies.size() << ")"
                  << ", capillary_bridge_records_dead_lettered_total=" << dead_lettered.value_or(-1)
                  << " (expected " << want_dead << ")\n"
                  << logs(dev);
  std::cerr << fmt::format("dev: records_delivered_total={} (went{}) output lines={}\n", *delivered,
                           history, lines);

  const auto health = http_get("127.0.0.1", port, "/healthz");
  EXPECT_EQ(health.status, 200) << health.body;
  const auto ready = http_get("127.0.0.1", port, "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  // Read from the environment, the secret was wiped there: /proc/PID/environ (the block the
  // process started with) still names the variable but no longer shows its value.
  {
    std::ifstream env_file(fmt::format("/proc/{}/environ", dev.pid()), std::ios::binary);
    ASSERT_TRUE(env_file) << "cannot read /proc/" << dev.pid() << "/environ";
    std::stringstream env;
    env << env_file.rdbuf();
    EXPECT_NE(env.str().find("CAPILLARY_BRIDGE_DEV_SECRET="), std::string::npos);
    EXPECT_EQ(env.str().find("dev-secret"), std::string::npos);
  }
  const auto metrics = http_get("127.0.0.1", port, "/metrics");
  EXPECT_TRUE(metric_sum(metrics.body, "capillary_bridge_records_consumed_total").has_value());
  EXPECT_TRUE(metric_sum(metrics.body, "capillary_bridge_build_info").has_value());
  // Through the platform sink: a token was fetched and every message was accepted.
  EXPECT_EQ(metric_sum(metrics.body, "capillary_bridge_platform_messages_total"),
            static_cast<double>(expected.bodies.size()));
  EXPECT_GE(metric_sum(metrics.body, "capillary_bridge_platform_token_refreshes_total").value_or(0),
            1.0);

  dev.kill(SIGTERM);
  const auto st = dev.wait(seconds(60));
  ASSERT_TRUE(st) << "no exit within 60 s of SIGTERM\n" << logs(dev);
  EXPECT_TRUE(st->exited && st->code == 0) << to_string(*st) << "\n" << logs(dev);
}

TEST(DevCommandTest, TheWebhookCurlLineReachesPlatformAsTransformSaysIt) {
  TempDir dir("capillary-e2e");
  const std::string output = dir.file("out.ndjson");
  ChildProcess dev(dev_command(dir, output, free_port(), false));
  std::string curl;
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string err = read_file(dir.file("dev.err"));
        const auto at = err.find("post an event         : ");
        const auto end = at == std::string::npos ? at : err.find('\n', at);
        if (end == std::string::npos) {
          return false;
        }
        curl = err.substr(at + 24, end - at - 24);
        return true;
      },
      seconds(60), milliseconds(100)))
      << logs(dev);
  ASSERT_EQ(curl.rfind("curl ", 0), 0U) << curl;
  // The event in the line, through `transform` with the same config: the message Platform must get.
  const auto quote = curl.find("-d '");
  ASSERT_NE(quote, std::string::npos) << curl;
  const std::string event = curl.substr(quote + 4, curl.size() - quote - 5);
  write_file(dir.file("event.jsonl"), event + "\n");
  const auto want = run_transform(dir, source_dir() + "/config/dev.yaml", dir.file("event.jsonl"),
                                  {{"CAPILLARY_BRIDGE_DEV_BROKERS", "127.0.0.1:9"}})
                        .messages;
  ASSERT_EQ(want.size(), 1U) << "the sample is one catalogue event";
  const std::string want_body = streaming_entity(want.front());
  const auto id_at = want_body.find("\"_id\":\"");
  ASSERT_NE(id_at, std::string::npos) << want_body;

  // The line as printed, by a shell (it expands the token variable).
  ChildOptions sh;
  sh.args = {"/bin/sh", "-c", curl + " -o " + dir.file("curl.out") + " -w '%{http_code}'"};
  sh.stdout_path = dir.file("curl.status");
  sh.stderr_path = dir.file("curl.err");
  ChildProcess post(sh);
  const auto ps = post.wait(seconds(30));
  ASSERT_TRUE(ps && ps->exited && ps->code == 0) << read_file(dir.file("curl.err"));
  EXPECT_EQ(read_file(dir.file("curl.status")), "200") << read_file(dir.file("curl.out"));

  const bool arrived = wait_until(
      [&] {
        for (const auto& line : read_ndjson(output)) {
          if (streaming_entity(line) == want_body) {
            return true;
          }
        }
        return false;
      },
      seconds(60), milliseconds(200));
  EXPECT_TRUE(arrived) << "not accepted by the emulator as transform makes it: "
                       << want_body.substr(0, 300) << "\n"
                       << logs(dev);
  EXPECT_TRUE(wait_until(
      [&] { return read_file(dir.file("dev.err")).find("received 1 |") != std::string::npos; },
      seconds(30), milliseconds(200)))
      << "the progress line does not count the received event\n"
      << logs(dev);
  dev.kill(SIGTERM);
  const auto st = dev.wait(seconds(60));
  ASSERT_TRUE(st) << logs(dev);
  EXPECT_TRUE(st->exited && st->code == 0) << to_string(*st) << "\n" << logs(dev);
}

}  // namespace
}  // namespace bridge::harness

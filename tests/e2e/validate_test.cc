// `capillary-bridge validate -c FILE` as users run it: every problem of a bad file on stderr as
// file:line:column, exit code 2; the shipped example passes with exit 0; a secret in a bad file
// never reaches the output.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/harness/process.h"

namespace bridge::harness {
namespace {

struct Run {
  int code = -1;
  std::string err;
  std::string out;
};

Run command(const TempDir& dir, std::vector<std::string> args,
            std::map<std::string, std::string> env) {
  ChildOptions o;
  o.args = std::move(args);
  o.env = std::move(env);
  static int runs = 0;  // each run its own files
  ++runs;
  o.stdout_path = dir.file("run" + std::to_string(runs) + ".out");
  o.stderr_path = dir.file("run" + std::to_string(runs) + ".err");
  ChildProcess p(o);
  const auto status = p.wait(std::chrono::seconds(30));
  Run r;
  if (status && status->exited) {
    r.code = status->code;
  }
  const auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  r.err = slurp(o.stderr_path);
  r.out = slurp(o.stdout_path);
  return r;
}

Run validate(const TempDir& dir, const std::string& config) {
  // The example reads the IMS secret from the environment.
  return command(dir, {bridge_binary(), "validate", "-c", config},
                 {{"IMS_CLIENT_SECRET", "example-secret"}});
}

TEST(ValidateCommandTest, ShippedExampleIsValid) {
  TempDir dir("capillary-e2e");
  const auto r = validate(dir, source_dir() + "/config/bridge.example.yaml");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok"), std::string::npos) << r.out;
}

TEST(ValidateCommandTest, ListsEveryProblemWithPositionAndExits2) {
  TempDir dir("capillary-e2e");
  const std::string path = dir.file("bad.yaml");
  std::ofstream(path) << "kafka:\n"
                         "  brokers: b:9092\n"
                         "  topicz: [a]\n"
                         "  security:\n"
                         "    protocol: SASL_SSL\n"
                         "    sasl_mechanism: PLAIN\n"
                         "    sasl_password: very-secret-value\n"
                         "    sasl_password_file: /nonexistent\n"
                         "routes:\n"
                         "  - transform: nope\n"
                         "sink:\n"
                         "  type: carrier-pigeon\n";
  const auto r = validate(dir, path);
  EXPECT_EQ(r.code, 2) << r.err;
  for (const std::string& expected :
       {path + ":3:3: unknown key 'topicz' in kafka", path + ":8:25: set either",
        path + ":10:5: route 1: unknown transform 'nope'", path + ":12:9: sink.type must be"}) {
    EXPECT_NE(r.err.find(expected), std::string::npos) << "missing: " << expected << "\n" << r.err;
  }
  EXPECT_EQ(r.err.find("very-secret-value"), std::string::npos) << r.err;
}

// `validate --no-plugins` checks plugin routes without loading their code: a file that is no
// shared object passes it, while plain `validate` (which loads it) refuses it.
TEST(ValidateCommandTest, NoPluginsChecksWithoutLoadingCode) {
  TempDir dir("capillary-e2e");
  const std::string lib = dir.file("libfake.so");
  std::ofstream(lib) << "not an ELF file\n";
  std::filesystem::permissions(lib, std::filesystem::perms(0644));  // whatever the umask
  const std::string path = dir.file("plugins.yaml");
  std::ofstream(path) << "kafka: {brokers: 'b:9092', topics: [t]}\n"
                         "plugin_dir: "
                      << dir.path()
                      << "\n"
                         "routes:\n"
                         "  - transform: plugin\n"
                         "    settings:\n"
                         "      targets: {raw: default}\n"
                         "      path: "
                      << lib << "\n";
  const auto loaded = command(dir, {bridge_binary(), "validate", "-c", path}, {});
  EXPECT_EQ(loaded.code, 2) << loaded.err;
  EXPECT_NE(loaded.err.find(path + ":7:13: plugin: cannot load '" + lib + "'"), std::string::npos)
      << loaded.err;
  const auto checked = command(dir, {bridge_binary(), "validate", "--no-plugins", "-c", path}, {});
  EXPECT_EQ(checked.code, 0) << checked.err;
  EXPECT_NE(checked.out.find("ok"), std::string::npos) << checked.out;
}

TEST(ValidateCommandTest, MissingFileExits2) {
  TempDir dir("capillary-e2e");
  const auto r = validate(dir, dir.file("absent.yaml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("absent.yaml"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bridge::harness

namespace bridge::harness {
namespace {

// `transform` needs only what transforms use: neither the example's IMS secret nor the dev
// config's broker variable (both unset here) may stop it; `validate` of the same files still
// reports them.
TEST(TransformCommandTest, RunsWithoutSinkSecretsOrTheDevBroker) {
  ::unsetenv("IMS_CLIENT_SECRET");
  ::unsetenv("CAPILLARY_BRIDGE_DEV_BROKERS");
  TempDir dir("capillary-e2e");
  const std::string samples = source_dir() + "/config/samples/capillary-events.jsonl";
  for (const auto& [config, variable] :
       {std::pair<std::string, std::string>{"bridge.example.yaml", "IMS_CLIENT_SECRET"},
        std::pair<std::string, std::string>{"dev.yaml", "CAPILLARY_BRIDGE_DEV_BROKERS"}}) {
    const std::string path = source_dir() + "/config/" + config;
    const auto checked = command(dir, {bridge_binary(), "validate", "-c", path}, {});
    EXPECT_EQ(checked.code, 2) << config;
    EXPECT_NE(checked.err.find("environment variable " + variable + " is not set"),
              std::string::npos)
        << checked.err;
    const auto run = command(dir, {bridge_binary(), "transform", "-c", path, samples}, {});
    EXPECT_EQ(run.code, 0) << config << ": " << run.err;
    EXPECT_NE(run.out.find("\"xdmEntity\""), std::string::npos) << config;
    EXPECT_EQ(run.err.find("is not set"), std::string::npos) << run.err;
  }
}

}  // namespace
}  // namespace bridge::harness

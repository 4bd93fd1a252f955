// `capillary-bridge validate -c FILE` as users run it: every problem of a bad file on stderr as
// file:line:column, exit code 2; the shipped example passes with exit 0; a secret in a bad file
// never reaches the output.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "tests/harness/process.h"

namespace bridge::harness {
namespace {

struct Run {
  int code = -1;
  std::string err;
  std::string out;
};

Run validate(const TempDir& dir, const std::string& config) {
  ChildOptions o;
  o.args = {bridge_binary(), "validate", "-c", config};
  o.env = {{"IMS_CLIENT_SECRET", "example-secret"}};  // the example reads it from the environment
  o.stdout_path = dir.file("validate.out");
  o.stderr_path = dir.file("validate.err");
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

TEST(ValidateCommandTest, MissingFileExits2) {
  TempDir dir("capillary-e2e");
  const auto r = validate(dir, dir.file("absent.yaml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("absent.yaml"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bridge::harness

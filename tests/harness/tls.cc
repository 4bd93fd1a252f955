#include "tests/harness/tls.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <system_error>

namespace bridge::harness {

SelfSignedCert::SelfSignedCert() {
  std::string pattern = ::testing::TempDir() + "/capillary-tls-XXXXXX";
  if (mkdtemp(pattern.data()) != nullptr) {
    dir_ = pattern;
    cert = dir_ + "/cert.pem";
    key = dir_ + "/key.pem";
  }
  if (!dir_.empty() && std::system("command -v openssl >/dev/null 2>&1") == 0) {
    const std::string command = fmt::format(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout '{}' -out '{}' >/dev/null 2>&1",
        key, cert);
    ok_ = std::system(command.c_str()) == 0;
  }
  // The tests skip without a certificate; CI must run them (tools/setup.sh installs openssl).
  const char* ci = std::getenv("CI");
  if (!ok_ && ci != nullptr && std::string_view(ci) == "true") {
    ADD_FAILURE() << "CI=true: no self-signed certificate (is openssl on PATH?), so the TLS tests "
                     "would be skipped";
  }
}

SelfSignedCert::~SelfSignedCert() {
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

}  // namespace bridge::harness

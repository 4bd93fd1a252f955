#pragma once
// A self-signed certificate for 127.0.0.1 in a fresh temporary directory, made by the openssl
// CLI, for tests of HTTPS (the platform emulator with --tls-cert/--tls-key). `ok()` is false
// when openssl is not on PATH or fails; then, when the environment has CI=true, the constructor
// also adds a test failure, so a test that skips without a certificate fails in CI instead of
// silently skipping. The directory goes with the object.

#include <string>

namespace bridge::harness {

class SelfSignedCert {
 public:
  SelfSignedCert();
  ~SelfSignedCert();
  SelfSignedCert(const SelfSignedCert&) = delete;
  SelfSignedCert& operator=(const SelfSignedCert&) = delete;

  [[nodiscard]] bool ok() const { return ok_; }
  std::string cert;  // PEM
  std::string key;   // PEM, unencrypted

 private:
  std::string dir_;
  bool ok_ = false;
};

}  // namespace bridge::harness

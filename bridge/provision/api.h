#pragma once
// One call to Platform's control plane over libcurl (../shared/reference/platform-provisioning.md
// section 1): every call carries Authorization, x-api-key, x-gw-ims-org-id and x-sandbox-name;
// 429 and 502/503/504 are retried with backoff and Retry-After, and 500 too on calls that change
// nothing (GET) or change nothing twice (DELETE, PUT). A POST or PATCH that failed with 500 is not
// blindly sent again: the caller looks the object up first (section 7). Synchronous: setup,
// check and teardown make a few dozen calls.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/core/result.h"

namespace bridge::provision {

struct Call {
  std::string method = "GET";
  std::string url;                                         // absolute
  std::vector<std::pair<std::string, std::string>> query;  // percent-encoded here
  std::string body;
  std::string content_type = "application/json";  // sent only with a body
  std::string accept;
  std::vector<std::pair<std::string, std::string>> headers;  // extra (If-Match)
};

struct Answer {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  int attempts = 0;
};

// "HTTP 400 Title not unique: Object titles must be unique ... (XDM-1521-400)". Reads the
// gateway's {error_code, message}, problem bodies {title, detail, report}, Identity's
// {title, description} and Flow Service's {errorMessage}; never requires a field.
[[nodiscard]] std::string describe_error(long status, const std::string& body);

// "Authorization: Bearer …" or an error (IMS refused, unreachable).
using TokenHeader = std::function<core::Result<std::string>()>;

class Api {
 public:
  Api(const config::PlatformApiConfig& platform, const config::PlatformSinkConfig& http,
      std::string api_key, TokenHeader token);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // The final answer (any status), or an error when no answer came (transport failure after
  // every attempt, or no token). `sandbox` false: no x-sandbox-name (sandbox management).
  [[nodiscard]] core::Result<Answer> call(const Call& call, bool sandbox = true);

  [[nodiscard]] const config::PlatformApiConfig& config() const { return platform_; }
  [[nodiscard]] int calls() const { return calls_; }  // HTTP requests sent
  [[nodiscard]] int writes() const {
    return writes_;
  }  // of them POST/PUT/PATCH/DELETE answered 2xx

 private:
  config::PlatformApiConfig platform_;
  const config::PlatformSinkConfig& http_;  // outlives this; not copied (the IMS secret)
  std::string api_key_;
  TokenHeader token_;
  void* curl_ = nullptr;
  int calls_ = 0;
  int writes_ = 0;
};

}  // namespace bridge::provision

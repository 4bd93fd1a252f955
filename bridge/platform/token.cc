#include "bridge/platform/token.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "bridge/core/fatal.h"
#include "bridge/core/secret.h"
#include "bridge/platform/response.h"
#include "bridge/platform/transport.h"

namespace bridge::platform {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The form body carries the client secret: wipe it before its memory is reused.
class WipedString {
 public:
  WipedString() = default;
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;
  ~WipedString() { core::wipe(value); }
  std::string value;
};

// Form-encodes `s` into `out` (which the caller wipes when it held a secret); libcurl's own copy
// is wiped before it is freed.
void form_escape(CURL* curl, std::string_view s, std::string& out) {
  out.clear();
  if (s.empty()) {
    return;  // curl_easy_escape reads a length of 0 as "use strlen"
  }
  char* escaped = curl_easy_escape(curl, s.data(), static_cast<int>(s.size()));
  if (escaped != nullptr) {
    out = escaped;
    core::wipe(escaped, std::strlen(escaped));
  }
  curl_free(escaped);
}

std::size_t append_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  // IMS answers are small; refuse to buffer a runaway body.
  if (body->size() + size * n > 64 * 1024) {
    return 0;
  }
  body->append(data, size * n);
  return size * n;
}

int abort_when_stopping(void* stopping, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/,
                        curl_off_t /*ultotal*/, curl_off_t /*ulnow*/) {
  return static_cast<std::atomic<bool>*>(stopping)->load(std::memory_order_relaxed) ? 1 : 0;
}

bool unit_is_milliseconds(std::string_view unit, std::string_view token_url, double value) {
  if (unit == "milliseconds") {
    return true;
  }
  if (unit == "seconds") {
    return false;
  }
  std::string_view path = token_url;
  if (const auto q = path.find('?'); q != std::string_view::npos) {
    path = path.substr(0, q);
  }
  while (path.ends_with('/')) {
    path.remove_suffix(1);
  }
  if (path.ends_with("/ims/token/v3")) {
    return false;
  }
  if (path.ends_with("/ims/token") || path.ends_with("/ims/token/v1")) {
    return true;
  }
  return value > 1e6;
}

}  // namespace

core::Result<IssuedToken> parse_token_response(std::string_view body, std::string_view unit,
                                               std::string_view token_url) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return core::fail(core::ErrorKind::retry, "ims-bad-response",
                      "the IMS token response is not a JSON object");
  }
  std::string_view token;
  if (root["access_token"].get(token) != simdjson::SUCCESS || token.empty()) {
    return core::fail(core::ErrorKind::retry, "ims-bad-response",
                      "the IMS token response has no access_token");
  }
  double expires = 0;
  const auto e = root["expires_in"];
  std::string_view text;
  if (e.is_number()) {
    expires = e.get_double().value();
  } else if (e.get(text) == simdjson::SUCCESS) {
    // Some IMS paths send numbers as strings.
    try {
      expires = std::stod(std::string(text));
    } catch (...) {
      expires = 0;
    }
  }
  if (!(expires > 0) || expires > 1e13) {
    return core::fail(core::ErrorKind::retry, "ims-bad-response",
                      "the IMS token response has no usable expires_in");
  }
  const double ms = unit_is_milliseconds(unit, token_url, expires) ? expires : expires * 1000.0;
  // Under a second is no usable token (and would refresh in a tight loop): found by platform_fuzz
  // with expires_in 8e-09.
  if (ms < 1000) {
    return core::fail(core::ErrorKind::retry, "ims-bad-response",
                      "the IMS token response has an expires_in under one second");
  }
  return IssuedToken{std::string(token), milliseconds(static_cast<std::int64_t>(ms))};
}

milliseconds refresh_after(milliseconds lifetime, milliseconds margin) {
  const milliseconds ahead = std::min(margin, lifetime / 5);
  return std::min(lifetime - ahead, milliseconds(std::chrono::hours(23)));
}

TokenSource::TokenSource(const config::ImsConfig& ims, const config::PlatformSinkConfig& http,
                         metrics::PlatformMetrics& metrics)
    : ims_(ims),
      proxy_(http.proxy),
      tls_verify_(http.tls_verify),
      ca_file_(http.ca_file),
      connect_timeout_(http.connect_timeout),
      metrics_(metrics),
      auth_failing_([&] {
        std::vector<prometheus::Gauge*> gauges;
        for (const auto& inlet : http.inlets) {
          if (inlet.authenticated) {
            gauges.push_back(&metrics.auth_failing.Add({{"inlet", inlet.name}}));
          }
        }
        return gauges;
      }()),
      tls_failures_(metrics.tls_failures.Add({{"endpoint", "ims"}})),
      tls_failing_(metrics.tls_failing.Add({{"endpoint", "ims"}})),
      thread_([this] { core::run_guarded("platform-token", [this] { run(); }); }) {}

TokenSource::~TokenSource() {
  stopping_.store(true, std::memory_order_relaxed);
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

TokenSource::Token TokenSource::current() const {
  const std::lock_guard lock(mutex_);
  if (header_ && Clock::now() >= expires_at_) {
    return {nullptr, generation_};
  }
  return {header_, generation_};
}

void TokenSource::refused(std::uint64_t generation) {
  {
    const std::lock_guard lock(mutex_);
    if (generation < generation_ || generation <= refused_generation_) {
      return;  // already replaced, or already asked for
    }
    refused_generation_ = generation;
    refresh_now_ = true;
  }
  changed_.notify_all();
}

bool TokenSource::wait_newer(std::uint64_t generation, milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return generation_ > generation || stop_; }) &&
         generation_ > generation;
}

std::string TokenSource::last_error() const {
  const std::lock_guard lock(mutex_);
  return last_error_;
}

void TokenSource::run() {
  std::minstd_rand rng{std::random_device{}()};
  int failures = 0;
  Clock::time_point next = Clock::now();
  std::unique_lock lock(mutex_);
  while (!stop_) {
    changed_.wait_until(lock, next, [&] { return stop_ || refresh_now_; });
    if (stop_) {
      break;
    }
    if (!refresh_now_ && Clock::now() < next) {
      continue;
    }
    refresh_now_ = false;
    lock.unlock();
    const auto started = Clock::now();
    auto issued = fetch();
    lock.lock();
    if (issued) {
      failures = 0;
      header_ =
          std::make_shared<const std::string>("Authorization: Bearer " + issued->access_token);
      ++generation_;
      expires_at_ = started + issued->lifetime;
      next = started + refresh_after(issued->lifetime, ims_.refresh_margin);
      last_error_.clear();
      if (refused_generation_ < generation_) {
        refresh_now_ = false;  // a refusal that came in during this fetch is answered by it
      }
      metrics_.token_refreshes.Add({{"result", "ok"}}).Increment();
      const auto expiry = std::chrono::system_clock::now() + issued->lifetime;
      metrics_.token_expiry_timestamp.Set(
          std::chrono::duration<double>(expiry.time_since_epoch()).count());
      spdlog::info("IMS access token received (valid {} s, next refresh in {} s)",
                   issued->lifetime.count() / 1000,
                   std::chrono::duration_cast<std::chrono::seconds>(next - started).count());
      changed_.notify_all();
    } else {
      last_error_ = issued.error().message;
      metrics_.token_refreshes.Add({{"result", "error"}}).Increment();
      if (issued.error().code == "ims-refused") {
        // Wrong client id or secret: every authenticated inlet is failing, traffic or not.
        for (prometheus::Gauge* failing : auth_failing_) {
          failing->Set(1);
        }
      }
      const auto cap = std::min<std::int64_t>(30'000, 1000LL << std::min(failures++, 5));
      std::uniform_int_distribution<std::int64_t> jitter(0, cap);
      next = Clock::now() + milliseconds(jitter(rng));
      spdlog::warn("IMS token request failed: {}; retrying in {} ms", last_error_,
                   std::chrono::duration_cast<milliseconds>(next - Clock::now()).count());
      if (header_ && Clock::now() >= expires_at_) {
        header_.reset();
        metrics_.token_expiry_timestamp.Set(0);
      }
    }
  }
}

core::Result<IssuedToken> TokenSource::fetch() {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    return core::fail(core::ErrorKind::retry, "ims-error", "curl_easy_init failed");
  }
  std::string scopes;
  for (const auto& s : ims_.scopes) {
    scopes += scopes.empty() ? "" : ",";
    scopes += s;
  }
  std::string client_id;
  WipedString secret;
  std::string scope;
  form_escape(curl, ims_.client_id, client_id);
  form_escape(curl, ims_.client_secret.reveal(), secret.value);
  form_escape(curl, scopes, scope);
  WipedString form;
  form.value.reserve(64 + client_id.size() + secret.value.size() + scope.size());
  // Appended in place, into room reserved for all of it: no intermediate buffer holds the secret.
  form.value.append("grant_type=client_credentials&client_id=")
      .append(client_id)
      .append("&client_secret=")
      .append(secret.value)
      .append("&scope=")
      .append(scope);
  std::string body;
  curl_slist* headers =
      curl_slist_append(nullptr, "Content-Type: application/x-www-form-urlencoded");
  curl_easy_setopt(curl, CURLOPT_URL, ims_.token_url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form.value.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.value.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(ims_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout_.count()));
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  // Shutdown must not wait for a slow IMS: the progress callback aborts the transfer.
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &stopping_);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &abort_when_stopping);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, tls_verify_ ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, tls_verify_ ? 2L : 0L);
  if (!ca_file_.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file_.c_str());
  }
  if (!proxy_.empty()) {
    curl_easy_setopt(curl, CURLOPT_PROXY, proxy_.c_str());
  }
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  const std::string detail = error[0] != '\0' ? error : curl_easy_strerror(rc);
  if (tls_failure(rc)) {
    tls_failures_.Increment();
    tls_failing_.Set(1);
    return core::fail(core::ErrorKind::retry, "ims-tls",
                      fmt::format("TLS failure with IMS ({}): {}; not an outage: check "
                                  "sink.platform.ims.token_url, sink.platform.http.ca_file or "
                                  "the proxy",
                                  ims_.token_url, detail));
  }
  if (rc != CURLE_OK) {
    return core::fail(core::ErrorKind::retry, "ims-unreachable",
                      fmt::format("{} ({})", detail, ims_.token_url));
  }
  tls_failing_.Set(0);  // IMS answered: TLS got through
  if (status != 200) {
    // IMS error bodies name the problem (invalid_client, invalid_scope); they carry no secret,
    // and error_message() bounds what is quoted.
    // 4xx: IMS refuses these credentials (invalid_client, invalid_scope); else it is unwell.
    return core::fail(
        core::ErrorKind::retry, status >= 400 && status < 500 ? "ims-refused" : "ims-unavailable",
        fmt::format("HTTP {} from {}: {}", status, ims_.token_url, error_message(body)));
  }
  return parse_token_response(body, ims_.expires_in_unit, ims_.token_url);
}

}  // namespace bridge::platform

#include "bridge/provision/api.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "bridge/platform/retry_after.h"

namespace bridge::provision {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::size_t collect_header(char* data, std::size_t size, std::size_t n, void* out) {
  const std::string_view line(data, size * n);
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) {
      value.remove_suffix(1);
    }
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = std::string(value);
  }
  return size * n;
}

std::string text_of(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool retryable(long status, const std::string& method) {
  if (status == 429 || status == 502 || status == 503 || status == 504) {
    return true;  // not processed, or the gateway says come back
  }
  // A 500 on a call that changes nothing, or nothing twice. POST and PATCH are looked up again by
  // the caller instead (reference §1.3, §7).
  return status == 500 && (method == "GET" || method == "DELETE" || method == "PUT");
}

}  // namespace

std::string describe_error(long status, const std::string& body) {
  std::string what;
  std::string type;
  try {
    const json j = json::parse(body);
    if (j.is_object()) {
      const std::string code = text_of(j, "error_code");
      const std::string title = text_of(j, "title");
      std::string detail = text_of(j, "detail");
      if (detail.empty()) {
        detail = text_of(j, "description");
      }
      if (detail.empty() && j.contains("report") && j["report"].is_object()) {
        detail = text_of(j["report"], "detailed-message");
        if (detail.empty()) {
          detail = text_of(j["report"], "message");
        }
      }
      if (!code.empty()) {
        what = fmt::format("{} (gateway {})", text_of(j, "message"), code);
      } else if (!title.empty()) {
        what = detail.empty() || detail == title ? title : fmt::format("{}: {}", title, detail);
      } else if (const std::string msg = text_of(j, "errorMessage"); !msg.empty()) {
        what = msg;
      } else {
        what = detail.empty() ? text_of(j, "message") : detail;
      }
      type = text_of(j, "type");
      if (const auto slash = type.rfind('/'); slash != std::string::npos) {
        type = type.substr(slash + 1);
      }
      if (type.find("XDM-") != 0) {
        type.clear();  // only Schema Registry codes are worth repeating
      }
    }
  } catch (const json::exception&) {
    what = body.size() > 200 ? body.substr(0, 200) + "…" : body;
  }
  std::string out = fmt::format("HTTP {}", status);
  if (!what.empty()) {
    out += " " + what;
  }
  if (!type.empty()) {
    out += fmt::format(" ({})", type);
  }
  return out;
}

Api::Api(const config::PlatformApiConfig& platform, const config::PlatformSinkConfig& http,
         std::string api_key, TokenHeader token)
    : platform_(platform),
      http_(http),
      api_key_(std::move(api_key)),
      token_(std::move(token)),
      curl_(curl_easy_init()) {}

Api::~Api() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

core::Result<Answer> Api::call(const Call& c, bool sandbox) {
  auto* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) {
    return core::fail(core::ErrorKind::fatal, "curl-init", "libcurl could not start");
  }
  std::string url = c.url;
  char sep = url.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : c.query) {
    char* key = curl_easy_escape(curl, k.c_str(), static_cast<int>(k.size()));
    char* value = curl_easy_escape(curl, v.c_str(), static_cast<int>(v.size()));
    url += fmt::format("{}{}={}", sep, key, value);
    curl_free(key);
    curl_free(value);
    sep = '&';
  }
  std::mt19937_64 rng{std::random_device{}()};
  milliseconds backoff{500};
  std::string last_error;
  for (int attempt = 1; attempt <= platform_.max_attempts; ++attempt) {
    auto token = token_();
    if (!token) {
      return tl::unexpected(token.error());
    }
    curl_easy_reset(curl);
    curl_slist* headers = nullptr;
    const auto add = [&headers](const std::string& h) {
      headers = curl_slist_append(headers, h.c_str());
    };
    add(*token);
    add("x-api-key: " + api_key_);
    add("x-gw-ims-org-id: " + platform_.org_id);
    if (sandbox) {
      add("x-sandbox-name: " + platform_.sandbox);
    }
    if (!c.body.empty()) {
      add("Content-Type: " + c.content_type);
    }
    if (!c.accept.empty()) {
      add("Accept: " + c.accept);
    }
    for (const auto& [k, v] : c.headers) {
      add(k + ": " + v);
    }
    add("Expect:");
    Answer a;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, c.method.c_str());
    if (!c.body.empty() || c.method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c.body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(c.body.size()));
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &collect_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a.headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(platform_.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(http_.connect_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, http_.tls_verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, http_.tls_verify ? 2L : 0L);
    if (!http_.ca_file.empty()) {
      curl_easy_setopt(curl, CURLOPT_CAINFO, http_.ca_file.c_str());
    }
    if (!http_.proxy.empty()) {
      curl_easy_setopt(curl, CURLOPT_PROXY, http_.proxy.c_str());
    }
    const CURLcode code = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    ++calls_;
    a.attempts = attempt;
    milliseconds wait = backoff;
    if (code != CURLE_OK) {
      last_error = curl_easy_strerror(code);
      spdlog::debug("{} {}: {} (attempt {})", c.method, c.url, last_error, attempt);
    } else {
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
      if (!retryable(a.status, c.method) || attempt == platform_.max_attempts) {
        if (a.status >= 200 && a.status < 300 && c.method != "GET") {
          ++writes_;
        }
        return a;
      }
      if (const auto it = a.headers.find("retry-after"); it != a.headers.end()) {
        if (auto after = platform::parse_retry_after(it->second, std::chrono::system_clock::now(),
                                                     milliseconds(60000))) {
          wait = *after;
        }
      }
      last_error = describe_error(a.status, a.body);
      spdlog::info("{} {}: {}; retrying in {} ms", c.method, c.url, last_error, wait.count());
    }
    // Full jitter below the backoff; a Retry-After is honoured as given.
    if (wait == backoff) {
      wait = milliseconds(
          std::uniform_int_distribution<std::int64_t>(backoff.count() / 2, backoff.count())(rng));
      backoff = std::min(backoff * 2, milliseconds(10000));
    }
    if (attempt < platform_.max_attempts) {
      std::this_thread::sleep_for(wait);
    }
  }
  return core::fail(core::ErrorKind::retry, "platform-unreachable",
                    fmt::format("{} {}: no answer after {} attempts: {}", c.method, c.url,
                                platform_.max_attempts, last_error));
}

}  // namespace bridge::provision

#include "bridge/platform/transport.h"

#include <algorithm>
#include <cctype>

namespace bridge::platform {
namespace {

constexpr std::size_t kMaxResponseBytes = 4 * 1024 * 1024;

}  // namespace

HttpTransport::HttpTransport(const config::PlatformSinkConfig& cfg)
    : cfg_(cfg), multi_(curl_multi_init()) {
  curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(cfg.concurrency));
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(cfg.concurrency));
}

bool tls_failure(CURLcode rc) {
  switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
      return true;
    default:
      return false;
  }
}

HttpTransport::~HttpTransport() {
  for (auto& [easy, running] : running_) {
    curl_multi_remove_handle(multi_, easy);
    curl_easy_cleanup(easy);
    curl_slist_free_all(running->headers);
  }
  for (CURL* easy : idle_) {
    curl_easy_cleanup(easy);
  }
  curl_multi_cleanup(multi_);
}

std::optional<std::string> HttpTransport::post(const std::string& url,
                                               const std::string* auth_header,
                                               std::string_view body, const void* tag) {
  CURL* easy = nullptr;
  if (!idle_.empty()) {
    easy = idle_.back();
    idle_.pop_back();
    curl_easy_reset(easy);
  } else {
    easy = curl_easy_init();
  }
  if (easy == nullptr) {
    return "curl_easy_init failed";
  }
  auto running = std::make_unique<Running>();
  running->exchange.tag = tag;
  running->headers = curl_slist_append(nullptr, "Content-Type: application/json");
  running->headers = curl_slist_append(running->headers, "Expect:");  // no 100-continue trip
  if (auth_header != nullptr) {
    running->headers = curl_slist_append(running->headers, auth_header->c_str());
  }
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, running->headers);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &HttpTransport::on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &running->exchange);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HttpTransport::on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &running->exchange);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg_.request_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(cfg_.connect_timeout.count()));
  if (cfg_.low_speed_limit > 0) {
    // libcurl counts whole seconds.
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(cfg_.low_speed_limit));
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>((cfg_.low_speed_time.count() + 999) / 1000));
  }
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, running->error);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, cfg_.tls_verify ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, cfg_.tls_verify ? 2L : 0L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                   cfg_.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
  // With HTTP/2, wait for a connection being set up instead of opening one per request. Only
  // over TLS, where ALPN settles multiplexing in the handshake: over plain HTTP libcurl would
  // hold every other request until the first one is answered, so one hung request stalls all.
  if (cfg_.http2 && url.starts_with("https://")) {
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
  }
  if (!cfg_.ca_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_CAINFO, cfg_.ca_file.c_str());
  }
  if (!cfg_.proxy.empty()) {
    curl_easy_setopt(easy, CURLOPT_PROXY, cfg_.proxy.c_str());
  }
  running->started = std::chrono::steady_clock::now();
  if (const CURLMcode mc = curl_multi_add_handle(multi_, easy); mc != CURLM_OK) {
    curl_slist_free_all(running->headers);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);  // `running` goes now
    idle_.push_back(easy);
    return std::string(curl_multi_strerror(mc));
  }
  running_.emplace(easy, std::move(running));
  return std::nullopt;
}

void HttpTransport::perform(std::vector<Exchange>& ended) {
  int still_running = 0;
  curl_multi_perform(multi_, &still_running);
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) {
      continue;
    }
    CURL* easy = msg->easy_handle;
    const CURLcode rc = msg->data.result;
    auto node = running_.extract(easy);
    curl_multi_remove_handle(multi_, easy);
    idle_.push_back(easy);
    if (node.empty()) {
      continue;
    }
    Running& running = *node.mapped();
    curl_slist_free_all(running.headers);
    running.exchange.rc = rc;
    if (rc != CURLE_OK) {
      running.exchange.error = running.error[0] != '\0' ? running.error : curl_easy_strerror(rc);
    }
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);  // `running` goes now
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &running.exchange.status);
    running.exchange.elapsed = std::chrono::steady_clock::now() - running.started;
    ended.push_back(std::move(running.exchange));
  }
}

void HttpTransport::wait(std::chrono::milliseconds timeout) {
  curl_multi_poll(multi_, nullptr, 0,
                  static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 1, 100)), nullptr);
}

void HttpTransport::wakeup() {
  curl_multi_wakeup(multi_);
}

std::size_t HttpTransport::on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const std::size_t len = size * n;
  if (exchange->response.size() + len > kMaxResponseBytes) {
    return len;  // keep reading, stop keeping: the head decides
  }
  exchange->response.append(data, len);
  return len;
}

std::size_t HttpTransport::on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const std::string_view line(data, size * n);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() &&
      std::equal(kName.begin(), kName.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    std::string_view v = line.substr(kName.size());
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) {
      v.remove_suffix(1);
    }
    exchange->retry_after.assign(v);
  }
  return size * n;
}

}  // namespace bridge::platform

#include "tests/harness/webhook.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace bridge::harness {

struct WebhookClient::Impl {
  CURL* curl = nullptr;
  std::string url;
  std::string auth;
  std::string body;
  std::string retry_after;
};

namespace {

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* out) {
  const std::string_view line(data, size * n);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() &&
      std::equal(kName.begin(), kName.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    std::string_view value = line.substr(kName.size());
    while (!value.empty() && (value.front() == ' ')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) {
      value.remove_suffix(1);
    }
    *static_cast<std::string*>(out) = std::string(value);
  }
  return size * n;
}

}  // namespace

WebhookClient::WebhookClient(std::string url, std::string auth, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) {
    throw std::runtime_error("curl_global_init failed");
  }
  impl_->curl = curl_easy_init();
  if (impl_->curl == nullptr) {
    throw std::runtime_error("curl_easy_init failed");
  }
  impl_->url = std::move(url);
  impl_->auth = std::move(auth);
  curl_easy_setopt(impl_->curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(impl_->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(impl_->curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(impl_->curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(impl_->curl, CURLOPT_WRITEDATA, &impl_->body);
  curl_easy_setopt(impl_->curl, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(impl_->curl, CURLOPT_HEADERDATA, &impl_->retry_after);
  curl_easy_setopt(impl_->curl, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(impl_->curl, CURLOPT_SSL_VERIFYHOST, 0L);
}

WebhookClient::~WebhookClient() {
  curl_easy_cleanup(impl_->curl);
}

WebhookAnswer WebhookClient::post(const std::string& body,
                                  const std::vector<std::string>& headers) {
  return send("POST", body, headers);
}

WebhookAnswer WebhookClient::send(const std::string& method, const std::string& body,
                                  const std::vector<std::string>& headers) {
  CURL* c = impl_->curl;
  curl_slist* list = nullptr;
  list = curl_slist_append(list, "Content-Type: application/json");
  list = curl_slist_append(list, "Expect:");
  if (!impl_->auth.empty()) {
    list = curl_slist_append(list, impl_->auth.c_str());
  }
  for (const auto& h : headers) {
    list = curl_slist_append(list, h.c_str());
  }
  curl_easy_setopt(c, CURLOPT_URL, impl_->url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, nullptr);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  impl_->body.clear();
  impl_->retry_after.clear();
  const auto started = std::chrono::steady_clock::now();
  const CURLcode rc = curl_easy_perform(c);
  WebhookAnswer answer;
  answer.latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  curl_slist_free_all(list);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  if (rc != CURLE_OK) {
    return answer;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  answer.status = static_cast<int>(status);
  answer.body = impl_->body;
  answer.retry_after = impl_->retry_after;
  return answer;
}

std::string webhook_event(std::uint64_t customer, std::uint64_t seq, std::size_t pad_to) {
  std::string event =
      fmt::format(R"({{"eventName":"pointsIssued","eventId":"evt-{}-{}","orgId":50001,)"
                  R"("createdAt":1740852000120,"data":{{"customerIdentifiers":{{"customerId":{}}},)"
                  R"("seq":{},"pointsIssued":[{{"points":10,"programId":1}}],"note":")",
                  customer, seq, 510000000 + customer, seq);
  if (event.size() + 3 < pad_to) {
    event.append(pad_to - event.size() - 3, 'x');
  }
  event += "\"}}";
  return event;
}

LoadResult run_load(const LoadOptions& options) {
  LoadResult total;
  std::mutex mu;
  std::atomic<bool> stopped{false};
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  const auto k = static_cast<std::uint64_t>(options.connections);
  for (std::uint64_t i = 0; i < k; ++i) {
    threads.emplace_back([&, i] {
      WebhookClient client(options.url, options.auth, options.timeout);
      LoadResult mine;
      for (std::uint64_t e = 0; options.events == 0 || e < options.events; ++e) {
        const std::uint64_t customer = e % options.customers;
        if (customer % k != i) {
          continue;
        }
        const std::uint64_t seq = e / options.customers;
        const std::string body = webhook_event(customer, seq, options.pad_to);
        for (;;) {
          if (stopped.load() || (options.stop && options.stop())) {
            stopped.store(true);
            break;
          }
          const WebhookAnswer a = client.post(body);
          ++mine.sent;
          ++mine.by_status[a.status];
          if (a.status == 503 && !a.retry_after.empty()) {
            ++mine.with_retry_after;
          }
          if (a.status == 200) {
            mine.acknowledged.push_back(fmt::format("evt-{}-{}", customer, seq));
            mine.latencies.push_back(a.latency);
            break;
          }
          if (!options.retry) {
            break;
          }
          std::this_thread::sleep_for(options.retry_pause);
        }
        if (stopped.load()) {
          break;
        }
      }
      std::lock_guard lock(mu);
      total.sent += mine.sent;
      for (const auto& [s, n] : mine.by_status) {
        total.by_status[s] += n;
      }
      total.with_retry_after += mine.with_retry_after;
      total.acknowledged.insert(total.acknowledged.end(), mine.acknowledged.begin(),
                                mine.acknowledged.end());
      total.latencies.insert(total.latencies.end(), mine.latencies.begin(), mine.latencies.end());
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  total.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return total;
}

}  // namespace bridge::harness

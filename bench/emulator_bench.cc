// The Platform emulator's own ceiling: N threads, each with one keep-alive libcurl handle, POST
// ~1 MB batches ({"messages":[...]} of ~1 KB ExperienceEvents, every `_id` distinct) to an
// in-process bridge::emulator::Server for a fixed time. Prints messages/s, MB/s, requests/s and
// request latency percentiles, and checks the emulator counted what was sent.
//
// The emulator must stay well above the bridge (bench/e2e_bench --sink platform) for the e2e
// numbers to measure the bridge rather than the emulator.
//
// Not a test: no pass/fail. Flags: --threads N (default 2) --seconds S (default 10)
// --batch-bytes B (default 1000000) --keep (store accepted messages, as the tests do)
// --auth (fetch an IMS token first and send it, as the bridge does)

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bridge/emulator/server.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kInlet =
    "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2";

std::int64_t arg(int argc, char** argv, std::string_view name, std::int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == name) {
      return std::atoll(argv[i + 1]);
    }
  }
  return fallback;
}

bool flag(int argc, char** argv, std::string_view name) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == name) {
      return true;
    }
  }
  return false;
}

// One ~1 KB streaming message shaped like the catalogue's transactionAdded ExperienceEvent; the
// last 12 hex digits of its `_id` are patched per request (see Batch).
std::string message(std::size_t thread, std::size_t index) {
  return fmt::format(
      R"({{"header":{{"schemaRef":{{"id":"https://ns.adobe.com/acme/schemas/events",)"
      R"("contentType":"application/vnd.adobe.xed-full+json;version=1"}},)"
      R"("datasetId":"5f0000000000000000000001","flowId":"0a1b2c3d-0000-0000-0000-000000000001",)"
      R"("source":{{"name":"capillary-bridge"}}}},"body":{{"xdmMeta":{{"schemaRef":{{)"
      R"("id":"https://ns.adobe.com/acme/schemas/events",)"
      R"("contentType":"application/vnd.adobe.xed-full+json;version=1"}}}},)"
      R"("xdmEntity":{{"_id":"{:08x}-{:04x}-5000-8000-000000000000",)"
      R"("timestamp":"2026-01-15T04:50:30.123Z","eventType":"commerce.purchases",)"
      R"("identityMap":{{"capillaryCustomerId":[{{"id":"{}","authenticatedState":"authenticated",)"
      R"("primary":true}}]}},"commerce":{{"purchases":{{"value":1}},"order":{{)"
      R"("purchaseID":"{}","purchaseOrderNumber":"B-{}","priceTotal":1234.5,"currencyCode":"INR"}},)"
      R"("commerceScope":{{"storeCode":"store.{}"}}}},"productListItems":[)"
      R"({{"SKU":"SKU-1001","name":"Item 0","quantity":1,"priceTotal":200.0}},)"
      R"({{"SKU":"SKU-1002","name":"Item 1","quantity":2,"priceTotal":201.0}},)"
      R"({{"SKU":"SKU-1003","name":"Item 2","quantity":3,"priceTotal":202.0}}],)"
      R"("_acme":{{"capillary":{{"orgId":50001,"eventId":"emu-{}-{}",)"
      R"("eventName":"transactionAdded","billType":"REGULAR"}}}}}}}}}})",
      thread, index, 555000000 + index, 900000000000 + index, index, index % 97, thread, index);
}

// A request body reused for every request of one thread; `id_tails` point at the 12 hex digits
// ending each `_id`, rewritten with a per-request counter so every accepted `_id` is new.
struct Batch {
  std::string body;
  std::vector<std::size_t> id_tails;
  std::size_t messages = 0;

  Batch(std::size_t thread, std::size_t max_bytes) {
    body = R"({"messages":[)";
    for (std::size_t i = 0;; ++i) {
      const std::string m = message(thread, i);
      if (body.size() + m.size() + 3 > max_bytes) {
        break;
      }
      if (i > 0) {
        body.push_back(',');
      }
      const auto at = m.find("-5000-8000-");
      id_tails.push_back(body.size() + at + 11);
      body += m;
      ++messages;
    }
    body += "]}";
  }

  void stamp(std::uint64_t request) {
    const std::string tail = fmt::format("{:012x}", request & 0xffffffffffffULL);
    for (const std::size_t at : id_tails) {
      body.replace(at, 12, tail);
    }
  }
};

std::size_t discard(char* /*data*/, std::size_t size, std::size_t n, void* /*user*/) {
  return size * n;
}

std::size_t append(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

std::string fetch_token(const std::string& base_url, const bridge::emulator::Options& options) {
  CURL* curl = curl_easy_init();
  std::string body;
  const std::string form =
      fmt::format("grant_type=client_credentials&client_id={}&client_secret={}", options.client_id,
                  options.client_secret);
  const std::string url = base_url + "/ims/token/v3";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  constexpr std::string_view kKey = R"("access_token":")";
  const auto at = body.find(kKey);
  if (at == std::string::npos) {
    return {};
  }
  const auto start = at + kKey.size();
  return body.substr(start, body.find('"', start) - start);
}

}  // namespace

int main(int argc, char** argv) {
  const auto threads = static_cast<std::size_t>(arg(argc, argv, "--threads", 2));
  const auto duration = std::chrono::seconds(arg(argc, argv, "--seconds", 10));
  const auto batch_bytes = static_cast<std::size_t>(arg(argc, argv, "--batch-bytes", 1000000));
  const bool keep = flag(argc, argv, "--keep");
  const bool auth = flag(argc, argv, "--auth");

  curl_global_init(CURL_GLOBAL_DEFAULT);
  bridge::emulator::Options options;
  options.listen = "127.0.0.1:0";
  options.keep_messages = keep;
  options.require_auth = auth;
  auto server = bridge::emulator::Server::start(options);
  if (!server) {
    std::fprintf(stderr, "emulator: %s\n", server.error().message.c_str());
    return 1;
  }
  const std::string base = (*server)->base_url();
  const std::string url = fmt::format("{}/collection/batch/{}", base, kInlet);
  std::string authorization;
  if (auth) {
    const std::string token = fetch_token(base, options);
    if (token.empty()) {
      std::fprintf(stderr, "no token from the emulator\n");
      return 1;
    }
    authorization = "Authorization: Bearer " + token;
  }

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sequence{0};
  struct Result {
    std::uint64_t requests = 0, ok = 0, messages = 0, bytes = 0;
    std::vector<double> latencies_ms;
  };
  std::vector<Result> results(threads);
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Batch batch(t, batch_bytes);
      CURL* curl = curl_easy_init();
      curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
      headers = curl_slist_append(headers, "Expect:");
      if (!authorization.empty()) {
        headers = curl_slist_append(headers, authorization.c_str());
      }
      curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
      curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
      Result& r = results[t];
      while (!stop.load(std::memory_order_relaxed)) {
        batch.stamp(sequence.fetch_add(1));
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, batch.body.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(batch.body.size()));
        const auto sent = Clock::now();
        const CURLcode rc = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        r.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
        ++r.requests;
        if (rc == CURLE_OK && status == 207) {
          ++r.ok;
          r.messages += batch.messages;
          r.bytes += batch.body.size();
        }
      }
      curl_slist_free_all(headers);
      curl_easy_cleanup(curl);
    });
  }
  std::this_thread::sleep_for(duration);
  stop = true;
  for (auto& w : workers) {
    w.join();
  }
  const double s = std::chrono::duration<double>(Clock::now() - start).count();

  Result total;
  for (auto& r : results) {
    total.requests += r.requests;
    total.ok += r.ok;
    total.messages += r.messages;
    total.bytes += r.bytes;
    total.latencies_ms.insert(total.latencies_ms.end(), r.latencies_ms.begin(),
                              r.latencies_ms.end());
  }
  std::sort(total.latencies_ms.begin(), total.latencies_ms.end());
  const auto pct = [&](double p) {
    return total.latencies_ms.empty()
               ? 0.0
               : total.latencies_ms[static_cast<std::size_t>(
                     p * static_cast<double>(total.latencies_ms.size() - 1))];
  };
  const auto stats = (*server)->stats();
  std::printf("%zu threads, %.1f s, %zu-byte batches (%llu messages each), messages %s, auth %s\n",
              threads, s, batch_bytes,
              static_cast<unsigned long long>(total.ok > 0 ? total.messages / total.ok : 0),
              keep ? "kept" : "counted only", auth ? "on" : "off");
  std::printf("%.0f messages/s, %.1f MB/s, %.1f requests/s (%llu of %llu answered 207)\n",
              static_cast<double>(total.messages) / s, static_cast<double>(total.bytes) / 1e6 / s,
              static_cast<double>(total.requests) / s, static_cast<unsigned long long>(total.ok),
              static_cast<unsigned long long>(total.requests));
  std::printf("request latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", pct(0.5), pct(0.99),
              pct(1.0));
  std::printf("emulator counted %llu messages accepted, %llu unique ids, %llu rejected\n",
              static_cast<unsigned long long>(stats.messages_accepted),
              static_cast<unsigned long long>(stats.unique_ids),
              static_cast<unsigned long long>(stats.messages_rejected));
  server->reset();
  curl_global_cleanup();
  return stats.messages_accepted == total.messages && stats.messages_rejected == 0 ? 0 : 1;
}

#include "bridge/emulator/server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string_view>
#include <unordered_map>

#include "bridge/emulator/control.h"
#include "bridge/emulator/control_plane.h"
#include "bridge/emulator/ingest.h"
#include "bridge/emulator/store.h"
#include "bridge/http/mhd.h"
#include "bridge/xed/xed.h"

namespace bridge::emulator {
namespace {

using Clock = std::chrono::steady_clock;

// Token and control bodies are tiny; this only keeps a confused client from filling memory.
constexpr std::size_t kControlBodyLimit = std::size_t{1} << 20;
// An oversized collection body up to this size is read and discarded before the 413, so a client
// that does not wait for 100-continue sees the answer rather than a reset while still sending.
// Beyond it the 413 goes out before the body is read.
constexpr std::size_t kDiscardLimit = std::size_t{64} << 20;
constexpr std::size_t kMaxRequestBytesCap = std::size_t{1} << 30;
constexpr std::size_t kTokenPruneAt = 1024;
// How often a held (hung) request checks whether its client gave up.
constexpr auto kHoldPoll = std::chrono::milliseconds(50);

constexpr const char* kJson = "application/json";
constexpr const char* kNdjson = "application/x-ndjson";
constexpr std::string_view kInletProblem =
    "http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet";
constexpr std::string_view kServiceProblem =
    "https://ns.adobe.com/adobecloud/problem/data-collection-service";
constexpr std::string_view kAuthProblem =
    "https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization";

enum class Route {
  not_found,
  method_not_allowed,
  token_v3,
  token_legacy,
  batch,
  single,
  stats,
  messages,
  faults_get,
  faults_put,
  tokens_expire,
  token_ttl,
  clear,
  healthz,
  control_plane,  // Platform's control plane: /data/...
  cp_dump,
  cp_reset,
  cp_sandbox,
};

bool is_collection(Route r) {
  return r == Route::batch || r == Route::single;
}

Route route_of(std::string_view method, std::string_view url, std::string& inlet) {
  const bool get = method == "GET";
  const bool post = method == "POST";
  const bool put = method == "PUT";
  const auto only = [](bool allowed, Route r) { return allowed ? r : Route::method_not_allowed; };
  const auto inlet_after = [&](std::string_view prefix) {
    if (!url.starts_with(prefix)) {
      return false;
    }
    const std::string_view rest = url.substr(prefix.size());
    if (rest.empty() || rest.find('/') != std::string_view::npos || rest == "batch") {
      return false;
    }
    inlet.assign(rest);
    return true;
  };
  if (url == "/ims/token/v3") return only(post, Route::token_v3);
  if (url == "/ims/token") return only(post, Route::token_legacy);
  if (inlet_after("/collection/batch/")) return only(post, Route::batch);
  if (inlet_after("/collection/")) return only(post, Route::single);
  if (url == "/emulator/stats") return only(get, Route::stats);
  if (url == "/emulator/messages") return only(get, Route::messages);
  if (url == "/emulator/faults")
    return get ? Route::faults_get : only(put || post, Route::faults_put);
  if (url == "/emulator/tokens/expire") return only(post, Route::tokens_expire);
  if (url == "/emulator/token_ttl") return only(put || post, Route::token_ttl);
  if (url == "/emulator/clear") return only(post, Route::clear);
  if (url == "/healthz") return only(get, Route::healthz);
  if (url.starts_with("/data/")) return Route::control_plane;
  if (url == "/emulator/control-plane") return only(get, Route::cp_dump);
  if (url == "/emulator/control-plane/reset") return only(post, Route::cp_reset);
  if (url == "/emulator/control-plane/sandbox") return only(put || post, Route::cp_sandbox);
  return Route::not_found;
}

std::string problem_json(std::string_view type, int status, std::string_view title,
                         std::string_view message, bool status_as_string = false) {
  std::string out = "{\"type\":";
  append_json_string(out, type);
  if (status_as_string) {
    fmt::format_to(std::back_inserter(out), ",\"status\":\"{}\"", status);
  } else {
    fmt::format_to(std::back_inserter(out), ",\"status\":{}", status);
  }
  out += ",\"title\":";
  append_json_string(out, title);
  out += ",\"report\":{\"message\":";
  append_json_string(out, message);
  out += "}}";
  return out;
}

const char* reason_phrase(int status) {
  return MHD_get_reason_phrase_for(static_cast<unsigned>(status));
}

bool retryable(int status) {
  return status == 429 || status >= 500;
}

// One reused set of parsers and buffers; taken for the life of a request's body and answer.
struct Worker {
  Ingest ingest;
  std::string body;
  std::string out;
};

// Bounds parser memory by concurrent requests rather than by open connections.
class WorkerPool {
 public:
  std::unique_ptr<Worker> acquire() {
    std::lock_guard lock(mu_);
    if (free_.empty()) {
      return std::make_unique<Worker>();
    }
    auto worker = std::move(free_.back());
    free_.pop_back();
    return worker;
  }
  void release(std::unique_ptr<Worker> worker) {
    if (!worker) {
      return;
    }
    worker->body.clear();
    worker->out.clear();
    std::lock_guard lock(mu_);
    free_.push_back(std::move(worker));
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Worker>> free_;
};

struct Request {
  Route route = Route::not_found;
  std::string method;  // control-plane requests only
  std::string url;
  std::string inlet;
  std::unique_ptr<Worker> worker;  // held while the body is read and the answer is built
  std::size_t received = 0;        // body bytes seen, including discarded ones
  std::size_t declared = 0;        // Content-Length, when sent
  std::size_t limit = 0;           // body limit in force when the request arrived
  bool too_large = false;
};

struct Decision {
  int status = 0;  // a whole-request failure to answer with
  std::string retry_after;
  bool hang = false;
  bool reset = false;
  std::chrono::milliseconds latency{0};
};

int connection_fd(MHD_Connection* conn) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  return info != nullptr ? info->connect_fd : -1;
}

// The client closed or reset its end. Asked of the socket, not of the bytes waiting on it: a
// pipelined request is data, not gone, and over TLS a client that gives up sends a close_notify
// alert before its FIN, so peeking at the next byte would never see the end.
bool peer_gone(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

// A genuine TCP reset: linger {1, 0} makes any close abortive, and connect(AF_UNSPEC) disconnects
// the socket right away (Linux sends RST from an established connection) while the descriptor
// stays valid for libmicrohttpd to close. Without the disconnect, libmicrohttpd's shutdown(WR)
// would send a FIN first and the client would see an empty reply instead of a reset.
void reset_connection(MHD_Connection* conn) {
  const int fd = connection_fd(conn);
  if (fd < 0) {
    return;
  }
  const linger abortive{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  sockaddr unspecified{};
  unspecified.sa_family = AF_UNSPEC;
  if (connect(fd, &unspecified, sizeof unspecified) != 0) {
    spdlog::debug("disconnect for a reset failed ({}); the close still resets",
                  std::strerror(errno));
  }
}

MHD_Response* make_response(std::string_view body, const char* content_type,
                            const std::string& retry_after = {}) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  if (!retry_after.empty()) {
    MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, retry_after.c_str());
  }
  return response;
}

MHD_Result send(MHD_Connection* conn, int status, MHD_Response* response) {
  const MHD_Result result = MHD_queue_response(conn, static_cast<unsigned>(status), response);
  MHD_destroy_response(response);
  return result;
}

MHD_Result send(MHD_Connection* conn, int status, std::string_view body,
                const char* content_type = kJson) {
  return send(conn, status, make_response(body, content_type));
}

std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%' && i + 2 < in.size()) {
      unsigned value = 0;
      const auto r = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
      if (r.ec == std::errc{} && r.ptr == in.data() + i + 3) {
        out.push_back(static_cast<char>(value));
        i += 2;
      } else {
        out.push_back('%');
      }
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// application/x-www-form-urlencoded lookup; nullopt when the key is absent.
std::optional<std::string> form_value(std::string_view form, std::string_view key) {
  while (!form.empty()) {
    const auto amp = form.find('&');
    const std::string_view pair = form.substr(0, amp);
    const auto eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) == key) {
      return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) {
      break;
    }
    form.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// A PEM file for start(); the error names the file and never quotes what it holds.
}  // namespace

struct Server::Impl {
  explicit Impl(Options o)
      : options(std::move(o)),
        faults(options.faults),
        rng(options.seed != 0 ? options.seed : std::random_device{}()),
        token_ttl(options.token_ttl),
        token_rng(std::random_device{}()),
        control_plane(ControlPlaneOptions{.org_id = options.ims_org_id,
                                          .api_key = options.client_id,
                                          .tenant_id = options.tenant_id,
                                          .sandboxes = options.sandboxes,
                                          .inlet_base_url = {}}) {
    if (faults.storm.count() > 0) {
      storm_until = Clock::now() + faults.storm;
    }
    node = static_cast<std::uint32_t>(1000 + rng() % 9000);
  }

  // Options are fixed after start, except the fault set and the token TTL, which live below.
  const Options options;
  // PEM contents handed to libmicrohttpd; kept for the daemon's lifetime. Empty = plain HTTP.
  std::string tls_cert;
  std::string tls_key;
  MHD_Daemon* daemon = nullptr;
  std::uint16_t port = 0;
  std::string url_host;
  std::uint32_t node = 0;  // the middle part of batch and transaction ids
  std::atomic<std::uint64_t> sequence{0};
  WorkerPool workers;

  mutable std::mutex faults_mu;
  Faults faults;
  Clock::time_point storm_until{};
  std::mt19937_64 rng;

  mutable std::mutex tokens_mu;
  std::unordered_map<std::string, Clock::time_point> tokens;  // token -> expiry
  std::chrono::seconds token_ttl;
  std::mt19937_64 token_rng;

  ControlPlane control_plane;  // thread-safe on its own

  mutable std::mutex state_mu;
  Stats stats;
  IdSet ids;
  MessageLog log;

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;

  // --- libmicrohttpd entry points (connection threads) ---

  MHD_Result on_request(MHD_Connection* conn, const char* url, const char* method,
                        const char* upload, std::size_t* upload_size, void** context) {
    auto* req = static_cast<Request*>(*context);
    if (req == nullptr) {
      // Owned by libmicrohttpd's request context from here; on_completed deletes it.
      req = new Request();
      *context = req;
      req->route = route_of(method, url, req->inlet);
      if (req->route == Route::control_plane) {
        req->method = method;
        req->url = url;
      }
      if (const char* length =
              MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        std::from_chars(length, length + std::strlen(length), req->declared);
      }
      req->limit = is_collection(req->route) ? body_limit() : kControlBodyLimit;
      if (is_collection(req->route) && req->declared > req->limit &&
          req->declared > kDiscardLimit) {
        return refuse_early(conn, *req);
      }
      return MHD_YES;
    }
    if (*upload_size > 0) {
      req->received += *upload_size;
      if (req->received > req->limit) {
        req->too_large = true;
        workers.release(std::move(req->worker));
      } else {
        if (!req->worker) {
          req->worker = workers.acquire();
        }
        req->worker->body.append(upload, *upload_size);
      }
      *upload_size = 0;
      return MHD_YES;
    }
    if (!req->worker) {
      req->worker = workers.acquire();
    }
    return answer(conn, *req);
  }

  void on_completed(void** context) {
    auto* req = static_cast<Request*>(*context);
    if (req != nullptr) {
      workers.release(std::move(req->worker));
      delete req;
      *context = nullptr;
    }
  }

  MHD_Result answer(MHD_Connection* conn, Request& req) {
    if (req.too_large && !is_collection(req.route)) {
      return send(
          conn, 413,
          problem_json(kServiceProblem, 413, "Payload Too Large", "request body too large"));
    }
    switch (req.route) {
      case Route::batch:
      case Route::single:
        return collection(conn, req);
      case Route::token_v3:
        return token(conn, req, false);
      case Route::token_legacy:
        return token(conn, req, true);
      case Route::stats:
        return send(conn, 200, stats_json(snapshot()));
      case Route::messages: {
        // ?from=N: only the lines after the first N, so a poller reads each line once.
        std::size_t from = 0;
        if (const char* arg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "from")) {
          const std::string_view text(arg);
          if (std::from_chars(text.data(), text.data() + text.size(), from).ec != std::errc{}) {
            return send(conn, 400,
                        problem_json(kServiceProblem, 400, "Invalid Query",
                                     "from: expected the number of lines to skip"));
          }
        }
        std::string out;
        for_each_line(from, [&out](std::string_view line) { out += line; });
        return send(conn, 200, out, kNdjson);
      }
      case Route::faults_get:
        return send(conn, 200, faults_json(current_faults()));
      case Route::faults_put: {
        auto parsed = parse_faults_json(req.worker->body);
        if (!parsed) {
          return send(conn, 400,
                      problem_json(kServiceProblem, 400, "Invalid Faults", parsed.error().message));
        }
        replace_faults(*parsed);
        spdlog::info("faults replaced over the control API: {}", faults_json(*parsed));
        return send(conn, 200, faults_json(current_faults()));
      }
      case Route::tokens_expire:
        expire_all_tokens();
        return send(conn, 200, "{\"expired\":true}");
      case Route::token_ttl: {
        auto ttl = parse_token_ttl_json(req.worker->body);
        if (!ttl) {
          return send(conn, 400,
                      problem_json(kServiceProblem, 400, "Invalid Token TTL", ttl.error().message));
        }
        set_ttl(*ttl);
        return send(conn, 200, fmt::format("{{\"seconds\":{}}}", ttl->count()));
      }
      case Route::clear:
        forget();
        return send(conn, 200, "{\"cleared\":true}");
      case Route::healthz:
        return send(conn, 200, "{\"status\":\"ok\"}");
      case Route::control_plane:
        return control_plane_request(conn, req);
      case Route::cp_dump:
        return send(conn, 200, control_plane.dump());
      case Route::cp_reset:
        control_plane.reset();
        return send(conn, 200, "{\"reset\":true}");
      case Route::cp_sandbox: {
        auto sandbox = parse_sandbox_json(req.worker->body);
        if (!sandbox) {
          return send(
              conn, 400,
              problem_json(kServiceProblem, 400, "Invalid Sandbox", sandbox.error().message));
        }
        control_plane.set_sandbox_state(sandbox->first, sandbox->second);
        return send(conn, 200, "{\"updated\":true}");
      }
      case Route::method_not_allowed:
        return send(conn, 405,
                    problem_json(kServiceProblem, 405, "Method Not Allowed",
                                 "method not allowed on this path"));
      case Route::not_found:
        break;
    }
    return send(conn, 404, problem_json(kServiceProblem, 404, "Not Found", "no such endpoint"));
  }

  // --- Platform's control plane ---

  MHD_Result control_plane_request(MHD_Connection* conn, Request& req) {
    CpRequest cp;
    cp.method = req.method;
    cp.path = req.url;
    MHD_get_connection_values(
        conn, MHD_GET_ARGUMENT_KIND,
        [](void* out, MHD_ValueKind, const char* key, const char* value) {
          static_cast<CpRequest*>(out)->query.emplace_back(key, value != nullptr ? value : "");
          return MHD_YES;
        },
        &cp);
    MHD_get_connection_values(
        conn, MHD_HEADER_KIND,
        [](void* out, MHD_ValueKind, const char* key, const char* value) {
          std::string name(key);
          std::transform(name.begin(), name.end(), name.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          static_cast<CpRequest*>(out)->headers[name] = value != nullptr ? value : "";
          return MHD_YES;
        },
        &cp);
    cp.body = req.worker->body;
    cp.token_valid = !cp.headers["authorization"].empty() && unauthorized(conn, true) == nullptr;
    if (cp.headers["authorization"].empty()) {
      cp.headers.erase("authorization");
    }
    std::chrono::milliseconds latency{0};
    int fail = 0;
    std::string retry_after;
    {
      std::lock_guard lock(faults_mu);
      latency = faults.latency;
      fail = draw(faults.control_fail_rate);
      if (fail == 429 || fail == 503) {
        retry_after = faults.retry_after.value_or("");
      }
    }
    if (!pause(latency)) {
      return MHD_NO;
    }
    if (fail == 429) {
      return send(conn, 429,
                  make_response(R"({"error_code":"429050","message":"Too many requests"})", kJson,
                                retry_after));
    }
    if (fail != 0) {
      return send(conn, fail,
                  make_response(problem_json(kServiceProblem, fail, reason_phrase(fail),
                                             "injected by platform-emulator"),
                                kJson, retry_after));
    }
    const CpAnswer a = control_plane.handle(cp);
    MHD_Response* response = MHD_create_response_from_buffer(
        a.body.size(), const_cast<char*>(a.body.data()), MHD_RESPMEM_MUST_COPY);
    if (!a.body.empty()) {
      MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, kJson);
    }
    for (const auto& [name, value] : a.headers) {
      MHD_add_response_header(response, name.c_str(), value.c_str());
    }
    return send(conn, a.status, response);
  }

  // --- collection endpoints ---

  MHD_Result refuse_early(MHD_Connection* conn, const Request& req) {
    {
      std::lock_guard lock(state_mu);
      ++stats.requests;
      stats.max_request_bytes_seen =
          std::max<std::uint64_t>(stats.max_request_bytes_seen, req.declared);
      ++stats.by_status[413];
    }
    return send(conn, 413, too_large_json(req));
  }

  std::string too_large_json(const Request& req) const {
    return problem_json(kInletProblem, 413, "Payload Too Large",
                        fmt::format("[{}] request of {} bytes exceeds the limit of {} bytes",
                                    req.inlet, std::max(req.received, req.declared), req.limit));
  }

  MHD_Result collection(MHD_Connection* conn, Request& req) {
    {
      std::lock_guard lock(state_mu);
      ++stats.requests;
      stats.bytes_received += req.received;
      stats.max_request_bytes_seen = std::max<std::uint64_t>(stats.max_request_bytes_seen,
                                                             std::max(req.received, req.declared));
    }
    const Decision d = decide(req.worker->body);
    int status = 0;
    MHD_Response* response = nullptr;
    if (req.too_large) {
      status = 413;
      response = make_response(too_large_json(req), kJson);
    } else if (d.status != 0) {
      status = d.status;
      const std::string message =
          fmt::format("[{}] {} (injected by platform-emulator)", req.inlet, reason_phrase(status));
      response =
          make_response(problem_json(kServiceProblem, status, reason_phrase(status), message),
                        kJson, d.retry_after);
    } else if (d.hang) {
      count([](Stats& s) { ++s.hangs; });
      workers.release(std::move(req.worker));
      hold(conn);
      return MHD_NO;
    } else if (d.reset) {
      count([](Stats& s) { ++s.resets; });
      workers.release(std::move(req.worker));
      if (pause(d.latency)) {
        reset_connection(conn);
      }
      return MHD_NO;
    } else if (const char* why = unauthorized(conn)) {
      count([](Stats& s) { ++s.auth_failures; });
      status = 401;
      response = make_response(problem_json(kAuthProblem, 401, "Authorization",
                                            fmt::format("[{}] {}", req.inlet, why), true),
                               kJson);
    } else {
      status = ingest(req, *req.worker);
      response = make_response(req.worker->out, kJson);
    }
    workers.release(std::move(req.worker));
    if (!pause(d.latency)) {
      MHD_destroy_response(response);
      return MHD_NO;
    }
    count([status](Stats& s) { ++s.by_status[status]; });
    return send(conn, status, response);
  }

  Decision decide(std::string_view body) {
    std::lock_guard lock(faults_mu);
    Decision d;
    d.latency = faults.latency;
    if (!faults.hang_containing.empty() && body.find(faults.hang_containing) != body.npos) {
      d.hang = true;
      return d;
    }
    if (!faults.reject_containing.empty() && body.find(faults.reject_containing) != body.npos) {
      d.status = 400;
      return d;
    }
    if (Clock::now() < storm_until) {
      d.status = 429;
      d.retry_after = faults.retry_after.value_or("1");
      return d;
    }
    d.status = draw(faults.fail_rate);
    if (d.status != 0) {
      if ((d.status == 429 || d.status == 503) && faults.retry_after) {
        d.retry_after = *faults.retry_after;
      }
      return d;
    }
    d.hang = faults.hang_rate > 0 && uniform() < faults.hang_rate;
    d.reset = !d.hang && faults.reset_rate > 0 && uniform() < faults.reset_rate;
    return d;
  }

  // Caller holds faults_mu.
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }
  int draw(const std::map<int, double>& rates) {
    if (rates.empty()) {
      return 0;
    }
    const double u = uniform();
    double sum = 0;
    for (const auto& [status, rate] : rates) {
      sum += rate;
      if (u < sum) {
        return status;
      }
    }
    return 0;
  }

  // Null when the request may pass; else the 401 report message.
  // `always`: the control plane, which needs a token even under --no-auth.
  const char* unauthorized(MHD_Connection* conn, bool always = false) {
    if (!options.require_auth && !always) {
      return nullptr;
    }
    const char* header =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    std::string_view token = header != nullptr ? header : "";
    constexpr std::string_view kBearer = "bearer ";
    if (token.size() >= kBearer.size() &&
        std::equal(kBearer.begin(), kBearer.end(), token.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      token.remove_prefix(kBearer.size());
    } else {
      token = {};
    }
    while (!token.empty() && token.front() == ' ') {
      token.remove_prefix(1);
    }
    if (token.empty()) {
      return "Ims service token is empty";
    }
    std::lock_guard lock(tokens_mu);
    const auto it = tokens.find(std::string(token));
    if (it == tokens.end() || it->second <= Clock::now()) {
      return "Ims service token is invalid or expired";
    }
    return nullptr;
  }

  // Reads, checks, records and answers one batch or single message; the body goes to w.out.
  int ingest(const Request& req, Worker& w) {
    const std::size_t size = w.body.size();
    w.body.append(simdjson::SIMDJSON_PADDING, ' ');
    const std::string_view org = options.ims_org_id;
    const bool batch = req.route == Route::batch;
    const auto read = batch ? w.ingest.read_batch(w.body.data(), size, org)
                            : w.ingest.read_single(w.body.data(), size, org);
    if (!read) {
      w.out = problem_json(kInletProblem, 400, "Invalid Request",
                           fmt::format("[{}] {}", req.inlet, read.error().message));
      return 400;
    }
    auto& messages = w.ingest.messages();
    validate(req, w.ingest);
    inject(messages);
    record(w.ingest);

    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const std::uint64_t seq = ++sequence;
    auto out = std::back_inserter(w.out);
    if (!batch) {
      const CheckedMessage& m = messages.front();
      if (m.status == 0) {
        w.out = "{\"inletId\":";
        append_json_string(w.out, req.inlet);
        fmt::format_to(out,
                       ",\"xactionId\":\"{}:{}:{}\",\"receivedTimeMs\":{},"
                       "\"syncValidation\":{{\"skipped\":true}}}}",
                       now_ms, node, seq, now_ms);
        return 200;
      }
      w.out = m.injected ? problem_json(kServiceProblem, m.status, reason_phrase(m.status),
                                        fmt::format("[{}] {}", req.inlet, m.reason))
                         : problem_json(kInletProblem, 400, "Invalid XDM Message Format",
                                        fmt::format("[{}] {}", req.inlet, m.reason));
      return m.status;
    }
    w.out = "{\"inletId\":";
    append_json_string(w.out, req.inlet);
    fmt::format_to(out, ",\"batchId\":\"{}:{}:{}\",\"receivedTimeMs\":{},\"responses\":[", now_ms,
                   node, seq, now_ms);
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const CheckedMessage& m = messages[i];
      if (i != 0) {
        w.out.push_back(',');
      }
      // Both failure shapes occur in production: validation answers with statusCode, injected
      // faults with status (and no xactionId).
      if (m.status == 0) {
        fmt::format_to(out, "{{\"xactionId\":\"{}:{}:{}:{}\"}}", now_ms, node, seq, i);
      } else {
        fmt::format_to(out, "{{\"{}\":{},\"message\":", m.injected ? "status" : "statusCode",
                       m.status);
        append_json_string(w.out, m.reason);
        if (!m.report.empty()) {
          w.out += ",\"report\":";
          w.out += m.report;
        }
        w.out.push_back('}');
      }
    }
    w.out += "]}";
    return 207;
  }

  // Platform's streaming validation: a message for a dataset the control plane created must name
  // that dataset's schema and satisfy it as resolved (bridge/xed); otherwise it is a per-message
  // 400 with Platform's report. Messages for datasets made up by a test or bench pass unchecked.
  void validate(const Request& req, Ingest& ingest) {
    std::string dataset;
    ControlPlane::DatasetSchema schema;  // of `dataset`; batches mostly name one dataset
    for (CheckedMessage& m : ingest.messages()) {
      if (m.status != 0 || m.dataset_length == 0) {
        continue;
      }
      if (dataset.empty() || ingest.dataset(m) != dataset) {
        dataset = ingest.dataset(m);
        schema = control_plane.dataset_schema(dataset);
      }
      if (!schema.known) {
        continue;
      }
      if (ingest.schema(m) != schema.schema_id) {
        m.status = 400;
        m.reason = fmt::format(
            "inletId: [{}] imsOrgId: [{}] Message schemaRef.id '{}' is not the schema of dataset "
            "{} ({})",
            req.inlet, options.ims_org_id, ingest.schema(m), dataset, schema.schema_id);
        continue;
      }
      if (!schema.validator) {
        continue;
      }
      const auto message = nlohmann::json::parse(m.json, nullptr, false);
      const auto& entity = message["body"]["xdmEntity"];
      const auto violations = schema.validator->validate(entity);
      if (violations.empty()) {
        continue;
      }
      m.status = 400;
      std::string first;
      for (std::size_t i = 0; i < violations.size() && i < 3; ++i) {
        first += fmt::format("{}{}: {}", i == 0 ? "" : "; ", violations[i].pointer,
                             violations[i].message);
      }
      const auto cause = xed::streaming_validation(violations);
      m.reason = fmt::format("inletId: [{}] imsOrgId: [{}] Message is invalid: {}: {}", req.inlet,
                             options.ims_org_id, cause["message"].get<std::string>(), first);
      m.report =
          nlohmann::json{{"message", m.reason}, {"cause", {{"_streamingValidation", {cause}}}}}
              .dump();
    }
  }

  void inject(std::vector<CheckedMessage>& messages) {
    std::lock_guard lock(faults_mu);
    if (faults.message_fail_rate.empty()) {
      return;
    }
    for (CheckedMessage& m : messages) {
      if (m.status != 0) {
        continue;
      }
      if (const int status = draw(faults.message_fail_rate); status != 0) {
        m.status = status;
        m.injected = true;
        m.reason = fmt::format("{} (injected by platform-emulator)", reason_phrase(status));
      }
    }
  }

  void record(const Ingest& ingest_state) {
    std::lock_guard lock(state_mu);
    for (const CheckedMessage& m : ingest_state.messages()) {
      if (m.status != 0) {
        ++(m.injected && retryable(m.status) ? stats.messages_failed_retryable
                                             : stats.messages_rejected);
        continue;
      }
      ++stats.messages_accepted;
      if (options.keep_messages) {
        log.append(m.json);
      }
      if (!m.has_id) {
        ++stats.accepted_without_id;
      } else if (ids.insert(ingest_state.id(m))) {
        ++stats.unique_ids;
      }
    }
  }

  // Waits out injected latency; false when the server is stopping.
  bool pause(std::chrono::milliseconds latency) {
    if (latency.count() <= 0) {
      return true;
    }
    std::unique_lock lock(stop_mu);
    return !stop_cv.wait_for(lock, latency, [this] { return stopping; });
  }

  // Never answers: returns once the client gives up or the server stops.
  void hold(MHD_Connection* conn) {
    const int fd = connection_fd(conn);
    std::unique_lock lock(stop_mu);
    while (!stop_cv.wait_for(lock, kHoldPoll, [this] { return stopping; })) {
      if (fd >= 0 && peer_gone(fd)) {
        return;
      }
    }
  }

  // --- IMS ---

  MHD_Result token(MHD_Connection* conn, const Request& req, bool millis) {
    const std::string_view body = req.worker->body;
    const auto param = [&](const char* key) -> std::string {
      if (auto v = form_value(body, key)) {
        return *v;
      }
      const char* q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
      return q != nullptr ? q : "";
    };
    const auto refuse = [&](int status, std::string_view error, std::string_view description) {
      count([](Stats& s) { ++s.token_requests_refused; });
      std::string out = "{\"error\":";
      append_json_string(out, error);
      out += ",\"error_description\":";
      append_json_string(out, description);
      out += '}';
      return send(conn, status, out);
    };
    if (param("grant_type") != "client_credentials") {
      return refuse(400, "unsupported_grant_type", "grant_type must be client_credentials");
    }
    if (param("client_id") != options.client_id) {
      return refuse(401, "invalid_client", "invalid client_id parameter");
    }
    if (param("client_secret") != options.client_secret) {
      return refuse(401, "invalid_client", "invalid client_secret parameter");
    }
    std::string token_value;
    std::chrono::seconds ttl{};
    {
      std::lock_guard lock(tokens_mu);
      token_value = fmt::format("{:016x}{:016x}{:016x}", token_rng(), token_rng(), token_rng());
      ttl = token_ttl;
      const auto now = Clock::now();
      if (tokens.size() >= kTokenPruneAt) {
        std::erase_if(tokens, [now](const auto& t) { return t.second <= now; });
      }
      tokens[token_value] = now + ttl;
    }
    count([](Stats& s) { ++s.tokens_issued; });
    // v3 answers seconds; the unversioned endpoint answers milliseconds.
    return send(conn, 200,
                fmt::format(R"({{"access_token":"{}","token_type":"bearer","expires_in":{}}})",
                            token_value, millis ? ttl.count() * 1000 : ttl.count()));
  }

  // --- shared state ---

  template <typename F>
  void count(F&& update) {
    std::lock_guard lock(state_mu);
    update(stats);
  }

  Stats snapshot() const {
    std::lock_guard lock(state_mu);
    return stats;
  }

  // The collection body limit now: the option, or a lower proxy limit from the faults.
  std::size_t body_limit() const {
    std::lock_guard lock(faults_mu);
    return faults.body_limit_bytes > 0
               ? std::min(faults.body_limit_bytes, options.max_request_bytes)
               : options.max_request_bytes;
  }

  Faults current_faults() const {
    std::lock_guard lock(faults_mu);
    Faults f = faults;
    const auto left = storm_until - Clock::now();
    f.storm = left.count() > 0 ? std::chrono::ceil<std::chrono::milliseconds>(left)
                               : std::chrono::milliseconds(0);
    return f;
  }

  void replace_faults(const Faults& f) {
    std::lock_guard lock(faults_mu);
    faults = f;
    storm_until = f.storm.count() > 0 ? Clock::now() + f.storm : Clock::time_point{};
  }

  void expire_all_tokens() {
    std::lock_guard lock(tokens_mu);
    tokens.clear();
  }

  void set_ttl(std::chrono::seconds ttl) {
    std::lock_guard lock(tokens_mu);
    token_ttl = ttl;
  }

  void forget() {
    std::lock_guard lock(state_mu);
    stats = Stats{};
    ids.clear();
    log.clear();
  }

  // Accepted messages as NDJSON lines (newline included). A message spanning lines is minified;
  // JSON strings cannot hold raw newlines, so that only drops whitespace.
  template <typename F>
  void for_each_line(std::size_t from, F&& emit) const {
    std::lock_guard lock(state_mu);
    std::string line;
    for (std::size_t i = from; i < log.size(); ++i) {
      const std::string_view m = log.at(i);
      if (m.find_first_of("\r\n") == std::string_view::npos) {
        line.assign(m);
      } else {
        line.resize(m.size());
        std::size_t length = 0;
        if (simdjson::minify(m.data(), m.size(), line.data(), length) != simdjson::SUCCESS) {
          continue;
        }
        line.resize(length);
      }
      line.push_back('\n');
      emit(std::string_view(line));
    }
  }
};

namespace {

MHD_Result on_request(void* cls, MHD_Connection* conn, const char* url, const char* method,
                      const char* /*version*/, const char* upload, std::size_t* upload_size,
                      void** context) {
  return static_cast<Server::Impl*>(cls)->on_request(conn, url, method, upload, upload_size,
                                                     context);
}

void on_completed(void* cls, MHD_Connection* /*conn*/, void** context,
                  MHD_RequestTerminationCode /*code*/) {
  static_cast<Server::Impl*>(cls)->on_completed(context);
}

}  // namespace

core::Result<std::unique_ptr<Server>> Server::start(Options options) {
  if (auto valid = validate_faults(options.faults); !valid) {
    return tl::unexpected(valid.error());
  }
  if (options.max_request_bytes == 0 || options.max_request_bytes > kMaxRequestBytesCap) {
    return core::fail(core::ErrorKind::fatal, "emulator-options",
                      fmt::format("max_request_bytes must be 1..{}", kMaxRequestBytesCap));
  }
  if (options.token_ttl.count() < 0) {
    return core::fail(core::ErrorKind::fatal, "emulator-options", "token_ttl must be >= 0");
  }
  auto address = http::parse_listen(options.listen, "emulator-listen");
  if (!address) {
    return tl::unexpected(address.error());
  }
  const bool tls = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (tls && (options.tls_cert_file.empty() || options.tls_key_file.empty())) {
    return core::fail(core::ErrorKind::fatal, "emulator-tls",
                      "tls_cert_file and tls_key_file go together: set both or neither");
  }
  if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
    return core::fail(core::ErrorKind::fatal, "emulator-tls",
                      "this libmicrohttpd was built without TLS support");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO |
                   MHD_USE_ERROR_LOG;
  if (address->ipv6) {
    flags |= MHD_USE_IPv6;
  }
  std::vector<MHD_OptionItem> tls_options;
  if (tls) {
    auto cert = http::read_pem(impl->options.tls_cert_file, "certificate", "emulator-tls");
    if (!cert) {
      return tl::unexpected(cert.error());
    }
    auto key = http::read_pem(impl->options.tls_key_file, "key", "emulator-tls");
    if (!key) {
      return tl::unexpected(key.error());
    }
    impl->tls_cert = std::move(*cert);
    impl->tls_key = std::move(*key);
    flags |= MHD_USE_TLS;
    tls_options.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, impl->tls_cert.data()});
    tls_options.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, impl->tls_key.data()});
  }
  tls_options.push_back({MHD_OPTION_END, 0, nullptr});
  errno = 0;
  // Thread per connection: a held or delayed request blocks only its own connection. The larger
  // connection memory lets a 1 MB body arrive in fewer, bigger reads.
  impl->daemon = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &on_request, impl.get(), MHD_OPTION_SOCK_ADDR,
      reinterpret_cast<const sockaddr*>(&address->address), MHD_OPTION_NOTIFY_COMPLETED,
      &on_completed, impl.get(), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      static_cast<std::size_t>(256 * 1024), MHD_OPTION_CONNECTION_TIMEOUT, 300U,
      MHD_OPTION_EXTERNAL_LOGGER, &http::log_from_mhd, nullptr, MHD_OPTION_ARRAY,
      tls_options.data(), MHD_OPTION_END);
  if (impl->daemon == nullptr) {
    const int error = errno;
    if (tls && error == 0) {
      return core::fail(core::ErrorKind::fatal, "emulator-tls",
                        fmt::format("cannot serve HTTPS on {}: libmicrohttpd refused the "
                                    "certificate {} or the key {} (PEM, and a matching pair?)",
                                    impl->options.listen, impl->options.tls_cert_file,
                                    impl->options.tls_key_file));
    }
    return core::fail(core::ErrorKind::fatal, "emulator-listen",
                      fmt::format("cannot listen on {}: {}", impl->options.listen,
                                  error != 0 ? std::strerror(error) : "libmicrohttpd failed"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(impl->daemon, MHD_DAEMON_INFO_BIND_PORT);
  impl->port = info != nullptr ? info->port : 0;
  impl->url_host = address->url_host;
  impl->control_plane.set_inlet_base_url(fmt::format(
      "{}://{}:{}", impl->tls_cert.empty() ? "http" : "https", impl->url_host, impl->port));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  {
    std::lock_guard lock(impl_->stop_mu);
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
  MHD_stop_daemon(impl_->daemon);
}

std::string Server::control_plane_dump() const {
  return impl_->control_plane.dump();
}

void Server::control_plane_reset() {
  impl_->control_plane.reset();
}

void Server::set_sandbox_state(const std::string& name, const std::string& state) {
  impl_->control_plane.set_sandbox_state(name, state);
}

std::uint16_t Server::port() const {
  return impl_->port;
}

std::string Server::base_url() const {
  return fmt::format("{}://{}:{}", impl_->tls_cert.empty() ? "http" : "https", impl_->url_host,
                     impl_->port);
}

void Server::set_faults(const Faults& faults) {
  impl_->replace_faults(faults);
}

Faults Server::faults() const {
  return impl_->current_faults();
}

void Server::expire_tokens() {
  impl_->expire_all_tokens();
}

void Server::set_token_ttl(std::chrono::seconds ttl) {
  impl_->set_ttl(ttl);
}

Stats Server::stats() const {
  return impl_->snapshot();
}

std::vector<std::string> Server::accepted_messages() const {
  std::lock_guard lock(impl_->state_mu);
  std::vector<std::string> out;
  out.reserve(impl_->log.size());
  for (std::size_t i = 0; i < impl_->log.size(); ++i) {
    out.emplace_back(impl_->log.at(i));
  }
  return out;
}

void Server::clear() {
  impl_->forget();
}

bool Server::dump_ndjson(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  if (file == nullptr) {
    spdlog::error("cannot write {}: {}", tmp, std::strerror(errno));
    return false;
  }
  bool ok = true;
  impl_->for_each_line(0, [&](std::string_view line) {
    ok = ok && std::fwrite(line.data(), 1, line.size(), file) == line.size();
  });
  ok = std::fclose(file) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    spdlog::error("cannot write {}: {}", path, std::strerror(errno));
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace bridge::emulator

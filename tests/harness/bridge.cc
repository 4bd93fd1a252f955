#include "tests/harness/bridge.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace bridge::harness {

std::string yaml_quote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

namespace {

std::string yaml_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += (i == 0 ? "" : ", ") + yaml_quote(items[i]);
  }
  out += "]";
  return out;
}

}  // namespace

std::string BridgeConfig::to_yaml() const {
  std::string routes = fmt::format("routes:\n  - topics: {}\n", yaml_list(topics));
  if (!route_events.empty()) {
    routes += fmt::format("    events: {}\n", yaml_list(route_events));
  }
  routes += "    transform: passthrough\n    settings:\n      target: default\n";
  std::string pipeline_extra;
  for (const auto& [key, value] : pipeline_settings) {
    pipeline_extra += fmt::format("  {}: {}\n", key, value);
  }
  std::string dlq_extra;
  for (const auto& [key, value] : dlq_properties) {
    dlq_extra += fmt::format("{}    {}: {}\n", dlq_extra.empty() ? "  properties:\n" : "",
                             yaml_quote(key), yaml_quote(value));
  }
  const std::string sink =
      sink_yaml.empty()
          ? fmt::format("sink:\n  type: file\n  file:\n    path: {}\n", yaml_quote(sink_path))
          : sink_yaml;
  return fmt::format(
      "# Written by the integration test harness (tests/harness/bridge.cc).\n"
      "kafka:\n"
      "  brokers: {}\n"
      "  group_id: {}\n"
      "  client_id: {}\n"
      "  topics: {}\n"
      "  commit_interval_ms: {}\n"
      "  session_timeout_ms: {}\n"
      "\n"
      "pipeline:\n"
      "  drain_timeout_ms: {}\n"
      "{}"
      "\n"
      "dead_letter:\n"
      "  topic: {}\n"
      "{}"
      "\n"
      "{}"
      "\n"
      "{}"
      "\n"
      "metrics:\n"
      "  listen: {}\n"
      "\n"
      "log:\n"
      "  level: {}\n"
      "{}",
      yaml_quote(brokers), yaml_quote(group_id), yaml_quote(client_id), yaml_list(topics),
      commit_interval_ms, session_timeout_ms, drain_timeout_ms, pipeline_extra,
      yaml_quote(dlq_topic), dlq_extra,
      targets_and_routes_yaml.empty() ? "targets:\n  default: {}\n\n" + routes
                                      : targets_and_routes_yaml,
      sink, yaml_quote(metrics_listen), yaml_quote(log_level),
      extra_yaml.empty() ? "" : "\n" + extra_yaml);
}

BridgeProcess::BridgeProcess(const TempDir& dir, std::string name, BridgeConfig config)
    : name_(std::move(name)),
      config_(std::move(config)),
      config_path_(dir.file(name_ + ".yaml")),
      log_path_(dir.file(name_ + ".log")) {
  if (config_.metrics_listen.empty()) {
    metrics_port_ = free_port();
    config_.metrics_listen = fmt::format("127.0.0.1:{}", metrics_port_);
  } else if (const auto colon = config_.metrics_listen.rfind(':'); colon != std::string::npos) {
    metrics_port_ = static_cast<std::uint16_t>(std::stoi(config_.metrics_listen.substr(colon + 1)));
  }
  write_file(config_path_, config_.to_yaml());
}

void BridgeProcess::start() {
  if (process_ && process_->running()) {
    throw std::runtime_error(name_ + " is already running");
  }
  process_.reset();
  {
    std::ofstream log(log_path_, std::ios::app);
    log << "=== test harness: starting " << name_ << " ===\n";
  }
  std::vector<std::string> args = {bridge_binary()};
  args.insert(args.end(), config_.command.begin(), config_.command.end());
  args.insert(args.end(), {"-c", config_path_});
  process_ =
      std::make_unique<ChildProcess>(ChildOptions{std::move(args), {}, log_path_, log_path_, {}});
}

void BridgeProcess::kill(int sig) {
  if (process_) {
    process_->kill(sig);
  }
}

std::optional<ExitStatus> BridgeProcess::stop(std::chrono::milliseconds timeout) {
  if (!process_) {
    return std::nullopt;
  }
  return process_->terminate(timeout);
}

std::optional<ExitStatus> BridgeProcess::wait(std::chrono::milliseconds timeout) {
  if (!process_) {
    return std::nullopt;
  }
  return process_->wait(timeout);
}

bool BridgeProcess::running() {
  return process_ && process_->running();
}

std::string BridgeProcess::log_tail(std::size_t lines) const {
  return fmt::format("--- {} log ({}) ---\n{}", name_, log_path_, tail_file(log_path_, lines));
}

std::string make_event(std::string_view event_id, std::string_view event_name) {
  // Deterministic, realistic-looking payload (reference/capillary-events.md, E1 flat envelope).
  const std::size_t h = std::hash<std::string_view>{}(event_id);
  return fmt::format(
      R"({{"eventName":"{}","eventId":"{}","orgId":50001,"createdAt":"2026-01-01T00:00:00Z",)"
      R"("data":{{"customerId":{},"transactionId":{},"billNumber":"B-{}","amount":{}.{:02},)"
      R"("currencyCode":"INR","billType":"REGULAR","enteredBy":{{"store":{{"code":"S{:03}"}}}}}}}})",
      event_name, event_id, 100000 + h % 900000, h % 10000000, h % 100000, h % 5000, h % 100,
      h % 250);
}

std::string extract_event_id(std::string_view line) {
  static constexpr std::string_view kKey = R"("eventId":")";
  const auto at = line.find(kKey);
  if (at == std::string_view::npos) {
    return {};
  }
  const auto start = at + kKey.size();
  const auto end = line.find('"', start);
  if (end == std::string_view::npos) {
    return {};
  }
  return std::string(line.substr(start, end - start));
}

std::vector<std::string> read_ndjson(const std::string& path, std::size_t* partial) {
  const std::string text = read_file(path);
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      if (partial != nullptr) {
        ++*partial;
      }
      break;
    }
    lines.emplace_back(text, pos, nl - pos);
    pos = nl + 1;
  }
  return lines;
}

std::size_t NdjsonFollower::poll(std::vector<std::string>& out) {
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    return 0;
  }
  in.seekg(static_cast<std::streamoff>(offset_));
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string chunk = ss.str();
  const auto last_nl = chunk.rfind('\n');
  if (last_nl == std::string::npos) {
    return 0;
  }
  std::size_t n = 0;
  std::size_t pos = 0;
  while (pos <= last_nl) {
    const auto nl = chunk.find('\n', pos);
    out.emplace_back(chunk, pos, nl - pos);
    ++n;
    pos = nl + 1;
  }
  offset_ += last_nl + 1;
  return n;
}

void DeliveryCounter::add(std::string_view line) {
  ++lines_;
  std::string id = extract_event_id(line);
  if (id.empty()) {
    ++without_id_;
    return;
  }
  ++counts_[std::move(id)];
}

std::vector<std::string> DeliveryCounter::missing(const std::vector<std::string>& expected,
                                                  std::size_t max) const {
  std::vector<std::string> out;
  for (const auto& id : expected) {
    if (!counts_.contains(id)) {
      out.push_back(id);
      if (out.size() >= max) {
        break;
      }
    }
  }
  return out;
}

std::size_t DeliveryCounter::missing_count(const std::vector<std::string>& expected) const {
  std::size_t n = 0;
  for (const auto& id : expected) {
    n += counts_.contains(id) ? 0U : 1U;
  }
  return n;
}

TransformRun run_transform(const TempDir& dir, const std::string& config, const std::string& input,
                           const std::map<std::string, std::string>& env) {
  ChildOptions o;
  o.args = {bridge_binary(), "transform", "-c", config, input};
  o.env = env;
  o.stdout_path = dir.file("transform.out");
  o.stderr_path = dir.file("transform.err");
  ChildProcess cli(o);
  const auto status = cli.wait(std::chrono::seconds(60));
  if (!status || !status->exited || status->code != 0) {
    throw std::runtime_error("transform failed: " + cli.stderr_tail());
  }
  return {read_ndjson(o.stdout_path), read_ndjson(o.stderr_path)};
}

std::string streaming_entity(const std::string& message) {
  const auto at = message.find("\"xdmEntity\":");
  return at == std::string::npos ? message : message.substr(at);
}

HttpResponse http_get(const std::string& host, std::uint16_t port, const std::string& path,
                      std::chrono::milliseconds timeout) {
  return http_request("GET", host, port, path, {}, timeout);
}

HttpResponse http_request(const std::string& method, const std::string& host, std::uint16_t port,
                          const std::string& path, const std::string& body,
                          std::chrono::milliseconds timeout, const std::string& content_type) {
  HttpResponse response;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return response;
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return response;
  }
  std::string request = fmt::format("{} {} HTTP/1.0\r\nHost: {}:{}\r\nConnection: close\r\n",
                                    method, path, host, port);
  if (!body.empty() || method == "POST" || method == "PUT") {
    request += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n", content_type, body.size());
  }
  request += "\r\n";
  request += body;
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return response;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string raw;
  std::array<char, 65536> buf{};
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) {
      break;
    }
    raw.append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  // "HTTP/1.x 200 OK\r\n..."
  if (raw.rfind("HTTP/", 0) != 0) {
    return response;
  }
  const auto sp = raw.find(' ');
  const auto header_end = raw.find("\r\n\r\n");
  if (sp == std::string::npos || header_end == std::string::npos) {
    return response;
  }
  response.status = std::atoi(raw.c_str() + sp + 1);
  response.body = raw.substr(header_end + 4);
  return response;
}

namespace {

// Calls `each(labels, value)` for every sample line of metric `name` (exactly that name, not a
// longer one with it as prefix); `labels` is the text between the braces ("" without labels).
template <typename F>
void for_each_sample(std::string_view exposition, std::string_view name, F&& each) {
  std::size_t pos = 0;
  while (pos < exposition.size()) {
    auto nl = exposition.find('\n', pos);
    if (nl == std::string_view::npos) {
      nl = exposition.size();
    }
    const std::string_view line = exposition.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line.front() == '#' || line.substr(0, name.size()) != name) {
      continue;
    }
    const std::string_view rest = line.substr(name.size());
    if (rest.empty() || (rest.front() != '{' && rest.front() != ' ')) {
      continue;  // a longer metric name with this prefix
    }
    std::size_t value_at = 0;
    std::string_view labels;
    if (rest.front() == '{') {
      const auto close = rest.rfind('}');
      if (close == std::string_view::npos) {
        continue;
      }
      labels = rest.substr(1, close - 1);
      value_at = close + 1;
    }
    const std::string value(rest.substr(value_at));
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (end == value.c_str()) {
      continue;
    }
    each(labels, v);
  }
}

// The value of label `key` in a label text like `inlet="default",status="207"` (no escapes in
// the values we look up); nullopt when absent.
std::optional<std::string_view> label_value(std::string_view labels, std::string_view key) {
  std::size_t pos = 0;
  while (pos < labels.size()) {
    const auto eq = labels.find("=\"", pos);
    if (eq == std::string_view::npos) {
      return std::nullopt;
    }
    const auto close = labels.find('"', eq + 2);
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    if (labels.substr(pos, eq - pos) == key) {
      return labels.substr(eq + 2, close - eq - 2);
    }
    pos = close + 1;
    if (pos < labels.size() && labels[pos] == ',') {
      ++pos;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<double> metric_sum(std::string_view exposition, std::string_view name) {
  std::optional<double> sum;
  for_each_sample(exposition, name,
                  [&](std::string_view /*labels*/, double v) { sum = sum.value_or(0.0) + v; });
  return sum;
}

std::optional<double> metric_sum(std::string_view exposition, std::string_view name,
                                 const std::vector<std::pair<std::string, std::string>>& labels) {
  std::optional<double> sum;
  for_each_sample(exposition, name, [&](std::string_view text, double v) {
    for (const auto& [key, want] : labels) {
      if (label_value(text, key) != std::optional<std::string_view>(want)) {
        return;
      }
    }
    sum = sum.value_or(0.0) + v;
  });
  return sum;
}

std::vector<std::pair<double, double>> histogram_buckets(std::string_view exposition,
                                                         std::string_view name) {
  std::vector<std::pair<double, double>> out;
  const std::string bucket = std::string(name) + "_bucket";
  for_each_sample(exposition, bucket, [&](std::string_view labels, double v) {
    const auto le = label_value(labels, "le");
    if (!le) {
      return;
    }
    const double bound = *le == "+Inf" ? std::numeric_limits<double>::infinity()
                                       : std::strtod(std::string(*le).c_str(), nullptr);
    out.emplace_back(bound, v);
  });
  return out;
}

}  // namespace bridge::harness

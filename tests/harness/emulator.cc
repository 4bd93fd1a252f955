#include "tests/harness/emulator.h"

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace bridge::harness {
namespace {

constexpr const char* kHost = "127.0.0.1";
// Any 64 hex characters: the emulator accepts every inlet id.
constexpr std::string_view kInletId =
    "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2";

// The unsigned number after "<key>": in a flat JSON object (the stats answer has no strings).
std::uint64_t number_after(std::string_view json, std::string_view key) {
  const std::string marker = fmt::format("\"{}\":", key);
  const auto at = json.find(marker);
  if (at == std::string_view::npos) {
    throw std::runtime_error(
        fmt::format("emulator stats: no \"{}\" in {}", key, json.substr(0, 500)));
  }
  return std::strtoull(json.data() + at + marker.size(), nullptr, 10);
}

}  // namespace

std::string emulator_binary() {
  return binary_dir() + "/bridge/emulator/platform-emulator";
}

EmulatorStats parse_emulator_stats(std::string_view json) {
  EmulatorStats s;
  s.requests = number_after(json, "requests");
  s.resets = number_after(json, "resets");
  s.hangs = number_after(json, "hangs");
  s.messages_accepted = number_after(json, "messages_accepted");
  s.messages_rejected = number_after(json, "messages_rejected");
  s.messages_failed_retryable = number_after(json, "messages_failed_retryable");
  s.unique_ids = number_after(json, "unique_ids");
  s.accepted_without_id = number_after(json, "accepted_without_id");
  s.tokens_issued = number_after(json, "tokens_issued");
  s.token_requests_refused = number_after(json, "token_requests_refused");
  s.auth_failures = number_after(json, "auth_failures");
  s.max_request_bytes_seen = number_after(json, "max_request_bytes_seen");
  s.bytes_received = number_after(json, "bytes_received");
  // "by_status":{"207":12,"503":3}
  constexpr std::string_view kByStatus = "\"by_status\":{";
  const auto at = json.find(kByStatus);
  const auto end = at == std::string_view::npos ? at : json.find('}', at);
  if (end == std::string_view::npos) {
    throw std::runtime_error(
        fmt::format("emulator stats: no by_status object in {}", json.substr(0, 500)));
  }
  std::string_view rest = json.substr(at + kByStatus.size(), end - at - kByStatus.size());
  while (!rest.empty()) {
    const auto open = rest.find('"');
    const auto close = open == std::string_view::npos ? open : rest.find('"', open + 1);
    const auto colon = close == std::string_view::npos ? close : rest.find(':', close);
    if (colon == std::string_view::npos) {
      break;
    }
    const int status = std::atoi(std::string(rest.substr(open + 1, close - open - 1)).c_str());
    s.by_status[status] = std::strtoull(std::string(rest.substr(colon + 1)).c_str(), nullptr, 10);
    const auto comma = rest.find(',', colon);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  return s;
}

EmulatorProcess::EmulatorProcess(const TempDir& dir, EmulatorOptions options)
    : dir_(dir),
      options_(std::move(options)),
      log_path_(dir.file(options_.name + ".log")),
      port_file_(dir.file(options_.name + ".port")) {}

void EmulatorProcess::start() {
  if (process_ && process_->running()) {
    throw std::runtime_error(options_.name + " is already running");
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (int attempt = 1;; ++attempt) {
    process_.reset();
    std::remove(port_file_.c_str());
    {
      std::ofstream log(log_path_, std::ios::app);
      log << "=== test harness: starting " << options_.name << " (attempt " << attempt << ") ===\n";
    }
    ChildOptions child;
    child.args = {emulator_binary(),  "--listen",        fmt::format("{}:{}", kHost, port_),
                  "--port-file",      port_file_,        "--client-id",
                  options_.client_id, "--client-secret", options_.client_secret};
    child.args.insert(child.args.end(), options_.args.begin(), options_.args.end());
    child.stdout_path = log_path_;
    child.stderr_path = log_path_;
    process_ = std::make_unique<ChildProcess>(child);
    // The port file appears (renamed into place) once the server listens.
    std::string port_text;
    const bool listening = wait_until(
        [&] {
          port_text = read_file(port_file_);
          return port_text.find('\n') != std::string::npos || !process_->running();
        },
        std::chrono::seconds(10), std::chrono::milliseconds(10));
    if (listening && process_->running()) {
      port_ = static_cast<std::uint16_t>(std::stoi(port_text));
      if (wait_until([&] { return http_get(kHost, port_, "/healthz").status == 200; },
                     std::chrono::seconds(10))) {
        return;
      }
      throw std::runtime_error(fmt::format("{} listens on {} but /healthz does not answer\n{}",
                                           options_.name, port_, log_tail()));
    }
    // A restart on the old port can race the old socket's release: try again for a while.
    if (port_ == 0 || std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error(fmt::format(
          "{} did not start{}\n{}", options_.name,
          process_->status() ? " (" + to_string(*process_->status()) + ")" : "", log_tail()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void EmulatorProcess::kill(int sig) {
  if (process_) {
    process_->kill(sig);
  }
}

std::optional<ExitStatus> EmulatorProcess::stop(std::chrono::milliseconds timeout) {
  if (!process_) {
    return std::nullopt;
  }
  return process_->terminate(timeout);
}

std::optional<ExitStatus> EmulatorProcess::wait(std::chrono::milliseconds timeout) {
  if (!process_) {
    return std::nullopt;
  }
  return process_->wait(timeout);
}

bool EmulatorProcess::running() {
  return process_ && process_->running();
}

std::string EmulatorProcess::base_url() const {
  return fmt::format("http://{}:{}", kHost, port_);
}

std::string EmulatorProcess::inlet_url() const {
  return fmt::format("{}/collection/{}", base_url(), kInletId);
}

std::string EmulatorProcess::token_url() const {
  return base_url() + "/ims/token/v3";
}

std::string EmulatorProcess::log_tail(std::size_t lines) const {
  return fmt::format("--- {} log ({}) ---\n{}", options_.name, log_path_,
                     tail_file(log_path_, lines));
}

HttpResponse EmulatorProcess::control(const std::string& method, const std::string& path,
                                      const std::string& body) const {
  HttpResponse r = http_request(method, kHost, port_, path, body, std::chrono::seconds(30));
  if (r.status != 200) {
    throw std::runtime_error(fmt::format("{} {} {} answered {}: {}\n{}", options_.name, method,
                                         path, r.status, r.body.substr(0, 500), log_tail()));
  }
  return r;
}

EmulatorStats EmulatorProcess::stats() const {
  return parse_emulator_stats(control("GET", "/emulator/stats").body);
}

void EmulatorProcess::set_faults(const std::string& json) const {
  (void)control("PUT", "/emulator/faults", json);
}

void EmulatorProcess::expire_tokens() const {
  (void)control("POST", "/emulator/tokens/expire");
}

void EmulatorProcess::set_token_ttl(std::chrono::seconds ttl) const {
  (void)control("PUT", "/emulator/token_ttl", fmt::format(R"({{"seconds":{}}})", ttl.count()));
}

void EmulatorProcess::clear() const {
  (void)control("POST", "/emulator/clear");
}

std::vector<std::string> EmulatorProcess::messages() const {
  const std::string body = control("GET", "/emulator/messages").body;
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto nl = body.find('\n', pos);
    if (nl == std::string::npos) {
      nl = body.size();
    }
    if (nl > pos) {
      out.emplace_back(body, pos, nl - pos);
    }
    pos = nl + 1;
  }
  return out;
}

std::string PlatformSinkSettings::to_yaml() const {
  std::string out = fmt::format(
      "sink:\n"
      "  type: platform\n"
      "  platform:\n"
      "    inlets:\n"
      "      default: {{url: {}, authenticated: {}}}\n"
      "    source_name: capillary-bridge\n"
      "    ims:\n"
      "      token_url: {}\n"
      "      client_id: {}\n"
      "      client_secret: {}\n"
      "      scopes: [openid, AdobeID]\n",
      yaml_quote(inlet_url), authenticated ? "true" : "false", yaml_quote(token_url),
      yaml_quote(client_id), yaml_quote(client_secret));
  if (ims_timeout_ms) {
    out += fmt::format("      timeout_ms: {}\n", *ims_timeout_ms);
  }
  const auto section =
      [&out](const char* name,
             const std::vector<std::pair<const char*, std::optional<std::int64_t>>>& keys) {
        std::string body;
        for (const auto& [key, value] : keys) {
          if (value) {
            body += fmt::format("{}{}: {}", body.empty() ? "" : ", ", key, *value);
          }
        }
        if (!body.empty()) {
          out += fmt::format("    {}: {{{}}}\n", name, body);
        }
      };
  section("batch",
          {{"max_bytes", max_bytes}, {"max_messages", max_messages}, {"linger_ms", linger_ms}});
  section("http", {{"concurrency", concurrency},
                   {"connect_timeout_ms", connect_timeout_ms},
                   {"timeout_ms", timeout_ms}});
  section("rate_limit", {{"requests_per_second", requests_per_second},
                         {"messages_per_second", messages_per_second}});
  if (retry_after_max_ms) {
    out += fmt::format("    retry_after_max_ms: {}\n", *retry_after_max_ms);
  }
  return out;
}

PlatformSinkSettings platform_sink_for(const EmulatorProcess& emulator) {
  PlatformSinkSettings s;
  s.inlet_url = emulator.inlet_url();
  s.token_url = emulator.token_url();
  s.client_id = emulator.options().client_id;
  s.client_secret = emulator.options().client_secret;
  return s;
}

std::string capillary_routes_yaml(const std::vector<std::string>& topics) {
  std::string list;
  for (const auto& t : topics) {
    list += (list.empty() ? "" : ", ") + yaml_quote(t);
  }
  return fmt::format(
      "targets:\n"
      "  events:\n"
      "    dataset_id: 5f0000000000000000000001\n"
      "    schema_ref: https://ns.adobe.com/acme/schemas/events\n"
      "    flow_id: 0a1b2c3d-0000-0000-0000-000000000001\n"
      "\n"
      "routes:\n"
      "  - topics: [{}]\n"
      "    transform: capillary\n"
      "    settings:\n"
      "      tenant: acme\n"
      "      targets: {{experience_event: events}}\n"
      "      org_timezones: {{50001: \"+05:30\"}}\n"
      "\n",
      list);
}

std::string make_capillary_event(std::string_view event_id, std::uint64_t customer,
                                 std::size_t line_items, std::size_t description_bytes) {
  const std::size_t h = std::hash<std::string_view>{}(event_id);
  std::string items;
  if (line_items > 0) {
    const std::string filler(description_bytes, 'x');
    items = R"(,"lineItems":[)";
    for (std::size_t k = 0; k < line_items; ++k) {
      items +=
          fmt::format(R"({}{{"itemCode":"SKU-{}","description":"item {} {}","qty":1,"rate":10.50,)"
                      R"("value":10.50,"amount":10.50}})",
                      k == 0 ? "" : ",", 1000 + (h + k) % 5000, k, filler);
    }
    items += ']';
  }
  return fmt::format(
      R"({{"eventName":"transactionAdded","eventId":"{}","orgId":50001,)"
      R"("createdAt":"2026-01-15T10:20:30.123+05:30","data":{{)"
      R"("customerIdentifiers":{{"customerId":{}}},"transactionId":{},"billNumber":"B-{}",)"
      R"("amount":{}.{:02},"currencyCode":"INR","billType":"REGULAR",)"
      R"("enteredBy":{{"store":{{"code":"store.{}"}}}}{}}}}})",
      event_id, 100000 + customer, 900000000000 + h % 100000000000, h % 10000000, h % 5000, h % 100,
      h % 97, items);
}

}  // namespace bridge::harness

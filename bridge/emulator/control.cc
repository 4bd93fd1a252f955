#include "bridge/emulator/control.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <vector>

namespace bridge::emulator {
namespace {

constexpr std::string_view kFaultKeys =
    "fail_rate, retry_after, latency_ms, hang_rate, reset_rate, message_fail_rate, storm_ms, "
    "reject_containing, hang_containing, body_limit_bytes, control_fail_rate";

tl::unexpected<core::Error> bad(std::string code, std::string message) {
  return core::fail(core::ErrorKind::permanent, std::move(code), std::move(message));
}

bool valid_status(int status) {
  return status >= 100 && status <= 599;
}
bool valid_rate(double rate) {
  return std::isfinite(rate) && rate >= 0 && rate <= 1;
}

void append_rates(std::string& out, const std::map<int, double>& rates) {
  out.push_back('{');
  bool first = true;
  for (const auto& [status, rate] : rates) {
    fmt::format_to(std::back_inserter(out), "{}\"{}\":{}", first ? "" : ",", status, rate);
    first = false;
  }
  out.push_back('}');
}

std::string join(const std::vector<std::string>& problems) {
  std::string out;
  for (const auto& p : problems) {
    if (!out.empty()) {
      out += "; ";
    }
    out += p;
  }
  return out;
}

void read_rates(std::string_view key, simdjson::dom::element value, std::map<int, double>& out,
                std::vector<std::string>& problems) {
  simdjson::dom::object object;
  if (value.get_object().get(object)) {
    problems.push_back(fmt::format("{}: expected an object like {{\"503\": 0.2}}", key));
    return;
  }
  for (const auto field : object) {
    int status = 0;
    const auto* end = field.key.data() + field.key.size();
    const auto parsed = std::from_chars(field.key.data(), end, status);
    double rate = -1;
    if (parsed.ec != std::errc{} || parsed.ptr != end || !valid_status(status)) {
      problems.push_back(fmt::format("{}: '{}' is not an HTTP status (100-599)", key, field.key));
    } else if (field.value.get_double().get(rate) || !valid_rate(rate)) {
      problems.push_back(fmt::format("{}.{}: expected a probability in [0, 1]", key, status));
    } else {
      out[status] = rate;
    }
  }
}

void read_rate(std::string_view key, simdjson::dom::element value, double& out,
               std::vector<std::string>& problems) {
  if (value.get_double().get(out) || !valid_rate(out)) {
    problems.push_back(fmt::format("{}: expected a probability in [0, 1]", key));
  }
}

void read_millis(std::string_view key, simdjson::dom::element value, std::chrono::milliseconds& out,
                 std::vector<std::string>& problems) {
  std::int64_t ms = -1;
  if (value.get_int64().get(ms) || ms < 0) {
    problems.push_back(fmt::format("{}: expected a whole number of milliseconds >= 0", key));
    return;
  }
  out = std::chrono::milliseconds(ms);
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
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
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string stats_json(const Stats& s) {
  std::string out = fmt::format("{{\"requests\":{},\"by_status\":{{", s.requests);
  bool first = true;
  for (const auto& [status, count] : s.by_status) {
    fmt::format_to(std::back_inserter(out), "{}\"{}\":{}", first ? "" : ",", status, count);
    first = false;
  }
  fmt::format_to(std::back_inserter(out),
                 "}},\"resets\":{},\"hangs\":{},\"messages_accepted\":{},\"messages_rejected\":{},"
                 "\"messages_failed_retryable\":{},\"unique_ids\":{},\"accepted_without_id\":{},"
                 "\"tokens_issued\":{},\"token_requests_refused\":{},\"auth_failures\":{},"
                 "\"max_request_bytes_seen\":{},\"bytes_received\":{}}}",
                 s.resets, s.hangs, s.messages_accepted, s.messages_rejected,
                 s.messages_failed_retryable, s.unique_ids, s.accepted_without_id, s.tokens_issued,
                 s.token_requests_refused, s.auth_failures, s.max_request_bytes_seen,
                 s.bytes_received);
  return out;
}

std::string faults_json(const Faults& f) {
  std::string out = "{\"fail_rate\":";
  append_rates(out, f.fail_rate);
  out += ",\"retry_after\":";
  if (f.retry_after) {
    append_json_string(out, *f.retry_after);
  } else {
    out += "null";
  }
  fmt::format_to(std::back_inserter(out),
                 ",\"latency_ms\":{},\"hang_rate\":{},\"reset_rate\":{},\"message_fail_rate\":",
                 f.latency.count(), f.hang_rate, f.reset_rate);
  append_rates(out, f.message_fail_rate);
  fmt::format_to(std::back_inserter(out), ",\"storm_ms\":{}", f.storm.count());
  out += ",\"reject_containing\":";
  append_json_string(out, f.reject_containing);
  out += ",\"hang_containing\":";
  append_json_string(out, f.hang_containing);
  fmt::format_to(std::back_inserter(out), ",\"body_limit_bytes\":{}", f.body_limit_bytes);
  out += ",\"control_fail_rate\":";
  append_rates(out, f.control_fail_rate);
  out += '}';
  return out;
}

core::Result<Faults> parse_faults_json(std::string_view json) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(json);
  simdjson::dom::object root;
  if (const auto error = parser.parse(padded).get_object().get(root)) {
    return bad("faults-json",
               fmt::format("faults must be a JSON object: {}", simdjson::error_message(error)));
  }
  Faults faults;
  std::vector<std::string> problems;
  for (const auto field : root) {
    const std::string_view key = field.key;
    if (key == "fail_rate") {
      read_rates(key, field.value, faults.fail_rate, problems);
    } else if (key == "message_fail_rate") {
      read_rates(key, field.value, faults.message_fail_rate, problems);
    } else if (key == "control_fail_rate") {
      read_rates(key, field.value, faults.control_fail_rate, problems);
    } else if (key == "retry_after") {
      std::string_view text;
      std::int64_t seconds = 0;
      if (field.value.is_null()) {
        faults.retry_after.reset();
      } else if (!field.value.get_string().get(text) && !text.empty()) {
        faults.retry_after = std::string(text);
      } else if (!field.value.get_int64().get(seconds) && seconds >= 0) {
        faults.retry_after = std::to_string(seconds);
      } else {
        problems.emplace_back("retry_after: expected seconds (number or string), a date or null");
      }
    } else if (key == "latency_ms") {
      read_millis(key, field.value, faults.latency, problems);
    } else if (key == "storm_ms") {
      read_millis(key, field.value, faults.storm, problems);
    } else if (key == "hang_rate") {
      read_rate(key, field.value, faults.hang_rate, problems);
    } else if (key == "reset_rate") {
      read_rate(key, field.value, faults.reset_rate, problems);
    } else if (key == "reject_containing" || key == "hang_containing") {
      std::string_view text;
      if (field.value.get_string().get(text)) {
        problems.push_back(fmt::format("{}: expected a string", key));
      } else {
        (key == "reject_containing" ? faults.reject_containing : faults.hang_containing) = text;
      }
    } else if (key == "body_limit_bytes") {
      std::int64_t bytes = 0;
      if (!field.value.get_int64().get(bytes) && bytes >= 0) {
        faults.body_limit_bytes = static_cast<std::size_t>(bytes);
      } else {
        problems.emplace_back("body_limit_bytes: expected a byte count >= 0 (0 = no limit)");
      }
    } else {
      problems.push_back(fmt::format("unknown key '{}' (known: {})", key, kFaultKeys));
    }
  }
  if (!problems.empty()) {
    return bad("faults-json", join(problems));
  }
  return faults;
}

core::Result<std::chrono::seconds> parse_token_ttl_json(std::string_view json) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(json);
  std::int64_t seconds = -1;
  if (parser.parse(padded)["seconds"].get_int64().get(seconds) || seconds < 0) {
    return bad("token-ttl-json", "expected {\"seconds\": N} with N a whole number >= 0");
  }
  return std::chrono::seconds(seconds);
}

core::Result<std::pair<std::string, std::string>> parse_sandbox_json(std::string_view json) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(json);
  std::string_view name;
  std::string_view state;
  const auto doc = parser.parse(padded);
  if (doc["name"].get_string().get(name) || doc["state"].get_string().get(state) || name.empty() ||
      state.empty()) {
    return bad("sandbox-json", "expected {\"name\": \"...\", \"state\": \"active|deleted|...\"}");
  }
  return std::pair{std::string(name), std::string(state)};
}

core::Result<std::pair<int, double>> parse_status_rate(std::string_view text) {
  const auto eq = text.find('=');
  int status = 0;
  double rate = -1;
  if (eq != std::string_view::npos) {
    const std::string_view left = text.substr(0, eq);
    const std::string_view right = text.substr(eq + 1);
    const auto s = std::from_chars(left.data(), left.data() + left.size(), status);
    const auto r = std::from_chars(right.data(), right.data() + right.size(), rate);
    if (s.ec == std::errc{} && s.ptr == left.data() + left.size() && valid_status(status) &&
        r.ec == std::errc{} && r.ptr == right.data() + right.size() && valid_rate(rate)) {
      return std::pair{status, rate};
    }
  }
  return bad(
      "status-rate",
      fmt::format("'{}': expected STATUS=RATE, e.g. 503=0.2 (status 100-599, rate in [0, 1])",
                  text));
}

core::Result<void> validate_faults(const Faults& f) {
  std::vector<std::string> problems;
  for (const auto* rates : {&f.fail_rate, &f.message_fail_rate, &f.control_fail_rate}) {
    for (const auto& [status, rate] : *rates) {
      if (!valid_status(status) || !valid_rate(rate)) {
        problems.push_back(fmt::format("{}={}: status 100-599 and rate in [0, 1]", status, rate));
      }
    }
  }
  if (!valid_rate(f.hang_rate)) {
    problems.emplace_back("hang rate must be in [0, 1]");
  }
  if (!valid_rate(f.reset_rate)) {
    problems.emplace_back("reset rate must be in [0, 1]");
  }
  if (f.latency.count() < 0 || f.storm.count() < 0) {
    problems.emplace_back("latency and storm must not be negative");
  }
  if (!problems.empty()) {
    return bad("faults", join(problems));
  }
  return {};
}

}  // namespace bridge::emulator

#include "bridge/platform/response.h"

#include <simdjson.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

namespace bridge::platform {
namespace {

namespace dom = simdjson::dom;

// Truncated on a UTF-8 character boundary (simdjson has validated the string, so the result
// stays valid UTF-8), with control characters replaced so the text is safe in a Kafka header or
// a single log line.
std::string clean_text(std::string_view s) {
  if (s.size() > kMaxMessageBytes) {
    std::size_t end = kMaxMessageBytes;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0U) == 0x80U) {
      --end;  // s[end] is a continuation byte: the character starting before it would be cut
    }
    s = s.substr(0, end);
  }
  std::string out(s);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20U || u == 0x7FU) {
      c = ' ';
    }
  }
  return out;
}

constexpr int kInvalidStatus = -1;

int status_from_integer(std::int64_t value) {
  if (value <= 0 || value > std::numeric_limits<int>::max()) {
    return kInvalidStatus;
  }
  return static_cast<int>(value);
}

// Platform documents numbers, but its 401 problem body spells the status as a string.
int status_from(dom::element e) {
  switch (e.type()) {
    case dom::element_type::INT64:
      return status_from_integer(e.get_int64().value_unsafe());
    case dom::element_type::UINT64:
      return kInvalidStatus;  // above INT64_MAX: no HTTP status
    case dom::element_type::DOUBLE: {
      const double d = e.get_double().value_unsafe();
      if (d >= 1.0 && d <= static_cast<double>(std::numeric_limits<int>::max()) &&
          d == static_cast<double>(static_cast<std::int64_t>(d))) {
        return static_cast<int>(d);  // 400.0
      }
      return kInvalidStatus;
    }
    case dom::element_type::STRING: {
      const std::string_view s = e.get_string().value_unsafe();
      std::int64_t value = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
      if (ec != std::errc{} || end != s.data() + s.size()) {
        return kInvalidStatus;
      }
      return status_from_integer(value);
    }
    default:
      return kInvalidStatus;
  }
}

MessageResult message_result(dom::element e) {
  MessageResult result;
  dom::object object;
  if (e.get(object) != simdjson::SUCCESS) {
    return result;  // status 0 and no xactionId: unknown fate, the caller resends
  }
  dom::element status;
  if (object["statusCode"].get(status) == simdjson::SUCCESS ||
      object["status"].get(status) == simdjson::SUCCESS) {
    result.status = status_from(status);
  }
  dom::element xaction;
  result.has_xaction_id =
      object["xactionId"].get(xaction) == simdjson::SUCCESS && !xaction.is_null();
  std::string_view message;
  if (object["message"].get(message) == simdjson::SUCCESS) {
    result.message = clean_text(message);
  }
  return result;
}

// The string at `key` of `object`; "" when absent or not a string.
std::string_view string_at(dom::object object, std::string_view key) {
  std::string_view s;
  if (object[key].get(s) != simdjson::SUCCESS) {
    return {};
  }
  return s;
}

}  // namespace

tl::expected<BatchResponse, std::string> parse_batch_response(std::string_view body) {
  // A parser per call: this runs once per HTTP request, not per record, and a long-lived parser
  // would keep the capacity of the largest body ever seen.
  dom::parser parser;
  dom::element root;
  if (const auto error = parser.parse(body.data(), body.size()).get(root); error) {
    return tl::unexpected(std::string("batch response is not JSON: ") +
                          simdjson::error_message(error));
  }
  dom::object object;
  if (root.get(object) != simdjson::SUCCESS) {
    return tl::unexpected(std::string("batch response is not a JSON object"));
  }
  dom::array responses;
  if (object["responses"].get(responses) != simdjson::SUCCESS) {
    return tl::unexpected(std::string("batch response has no \"responses\" array"));
  }
  BatchResponse out;
  out.responses.reserve(responses.size());
  for (dom::element e : responses) {
    out.responses.push_back(message_result(e));
  }
  out.batch_id = clean_text(string_at(object, "batchId"));
  return out;
}

std::string error_message(std::string_view body) {
  dom::parser parser;
  dom::object object;
  if (parser.parse(body.data(), body.size()).get(object) != simdjson::SUCCESS) {
    return {};
  }
  dom::object report;
  if (object["report"].get(report) == simdjson::SUCCESS) {
    if (const std::string_view s = string_at(report, "message"); !s.empty()) {
      return clean_text(s);
    }
  }
  for (const std::string_view key : {"message", "title", "detail", "error_description", "error"}) {
    if (const std::string_view s = string_at(object, key); !s.empty()) {
      return clean_text(s);
    }
  }
  return {};
}

}  // namespace bridge::platform

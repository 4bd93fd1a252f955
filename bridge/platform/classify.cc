#include "bridge/platform/classify.h"

#include <array>
#include <limits>

namespace bridge::platform {
namespace {

constexpr int kMin = std::numeric_limits<int>::min();
constexpr int kMax = std::numeric_limits<int>::max();

constexpr std::string_view kAccepted = "platform-accepted";
constexpr std::string_view kRejected = "platform-rejected";
constexpr std::string_view kNotFound = "platform-not-found";
constexpr std::string_view kAuth = "platform-auth";
constexpr std::string_view kTimeout = "platform-timeout";
constexpr std::string_view kTooLarge = "platform-too-large";
constexpr std::string_view kThrottled = "platform-throttled";
constexpr std::string_view kUnavailable = "platform-unavailable";
constexpr std::string_view kConnection = "platform-connection";
constexpr std::string_view kTls = "platform-tls";
constexpr std::string_view kUnexpected = "platform-unexpected-status";
constexpr std::string_view kBadResponse = "platform-bad-response";

constexpr std::array kRequestRules{
    Rule{200, 202, Action::accept, kAccepted, "received (200 single, 201/202 accepted)"},
    Rule{204, 204, Action::accept, kAccepted, "received, no body"},
    Rule{207, 207, Action::accept, kAccepted, "batch received; responses[] decide per message"},
    Rule{401, 401, Action::reauth, kAuth, "missing or expired token: refresh once, then pause"},
    Rule{403, 403, Action::reauth, kAuth, "token invalid or expired on an authenticated inlet"},
    Rule{404, 404, Action::reject, kNotFound, "bad inlet URL: resending cannot help"},
    Rule{408, 408, Action::retry, kTimeout, "server gave up waiting for the request"},
    Rule{413, 413, Action::split, kTooLarge, "request over 1 MB: halves may fit"},
    Rule{429, 429, Action::retry, kThrottled, "throttled: back off, honour Retry-After"},
    Rule{400, 499, Action::reject, kRejected,
         "400/405/409/410/422 and other client errors: the request itself is wrong"},
    Rule{501, 501, Action::reject, kRejected,
         "sync validation not supported in this region: a configuration error"},
    Rule{500, 599, Action::retry, kUnavailable,
         "500/502/503/504 and other server errors are transient; Adobe asks for >= 3 retries"},
    Rule{kMin, kMax, Action::retry, kUnexpected,
         "1xx, 3xx (a redirect we did not follow), other 2xx, unknown: never drop on a surprise"},
};

constexpr std::array kMessageRules{
    Rule{200, 299, Action::accept, kAccepted, "ingested: never resend"},
    Rule{401, 401, Action::retry, kAuth,
         "auth is per request; a per-message 401 is transient, the token is refreshed on the "
         "request path"},
    Rule{403, 403, Action::retry, kAuth, "as 401"},
    Rule{413, 413, Action::reject, kTooLarge, "a single message over the limit can never fit"},
    Rule{429, 429, Action::retry, kThrottled, "throttled: resend only this message"},
    Rule{400, 499, Action::reject, kRejected,
         "validation, unknown XDM format, wrong org: dead-letter with Platform's message"},
    Rule{500, 599, Action::retry, kUnavailable, "server error: resend only this message"},
    Rule{kMin, kMax, Action::retry, kUnexpected, "unknown status: never drop on a surprise"},
};

Classification lookup(std::span<const Rule> rules, int status) {
  for (const Rule& rule : rules) {
    if (status >= rule.status_from && status <= rule.status_to) {
      return {rule.action, rule.reason};
    }
  }
  // Unreachable while the last row covers every int; retrying is the safe answer regardless.
  return {Action::retry, kUnexpected};
}

}  // namespace

Classification classify_request(Transport transport, int http_status) {
  switch (transport) {
    case Transport::timeout:
      return {Action::retry, kTimeout};
    case Transport::connection:
      return {Action::retry, kConnection};
    case Transport::tls:
      // Never dead-lettered: the events are fine, the trust configuration is not.
      return {Action::retry, kTls};
    case Transport::ok:
      break;
  }
  return lookup(kRequestRules, http_status);
}

Classification classify_message(int status, bool has_xaction_id) {
  if (status == 0) {
    // Successes carry only an xactionId. Without either, the fate is unknown: resend, which the
    // deterministic _id makes harmless.
    return has_xaction_id ? Classification{Action::accept, kAccepted}
                          : Classification{Action::retry, kBadResponse};
  }
  return lookup(kMessageRules, status);
}

std::span<const Rule> request_rules() {
  return kRequestRules;
}

std::span<const Rule> message_rules() {
  return kMessageRules;
}

std::string_view to_string(Action action) {
  switch (action) {
    case Action::accept:
      return "accept";
    case Action::reject:
      return "reject";
    case Action::retry:
      return "retry";
    case Action::split:
      return "split";
    case Action::reauth:
      return "reauth";
  }
  return "unknown";
}

}  // namespace bridge::platform

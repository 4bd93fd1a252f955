#pragma once
// Internal to bridge_provision: the service URLs under platform.api_url and JSON calls on top of
// Api (2xx → parsed body, anything else → an error with Platform's message), shared by setup,
// teardown and check.

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/core/result.h"
#include "bridge/provision/api.h"

namespace bridge::provision {

using nlohmann::json;

// A scalar at `path` under a route's settings, or `fallback`.
inline std::string setting(const YAML::Node& node, std::initializer_list<const char*> path,
                           std::string fallback = {}) {
  YAML::Node at;
  at.reset(node);  // reset, not operator=: that would assign into the config's own tree
  for (const char* key : path) {
    if (!at.IsMap() || !at[key].IsDefined()) {
      return fallback;
    }
    at.reset(at[key]);
  }
  return at.IsScalar() ? at.Scalar() : fallback;
}

// Runs `body`, turning a JSON answer of a shape the code did not expect into an error: Platform's
// bodies are read tolerantly, but a field of the wrong type must not end the process.
template <typename Body>
auto tolerating_shapes(Body body) -> decltype(body()) {
  try {
    return body();
  } catch (const json::exception& e) {
    return core::fail(core::ErrorKind::permanent, "platform-answer",
                      fmt::format("an answer from Platform had an unexpected shape: {}", e.what()));
  }
}

class Session {
 public:
  Session(Api& api, const config::Config& config, std::ostream& out)
      : api_(api), cfg_(config.platform), out_(out) {}

  std::string registry(std::string_view path) const {
    return fmt::format("{}/data/foundation/schemaregistry{}", cfg_.api_url, path);
  }
  std::string identity() const {
    return fmt::format("{}/data/core/idnamespace/identities", cfg_.identity_url);
  }
  std::string catalog(std::string_view path = {}) const {
    return fmt::format("{}/data/foundation/catalog/dataSets{}", cfg_.api_url, path);
  }
  std::string flows(std::string_view path) const {
    return fmt::format("{}/data/foundation/flowservice{}", cfg_.api_url, path);
  }
  // A path segment, percent-encoded (a schema's $id in a Schema Registry path).
  static std::string escape(std::string_view segment) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : segment) {
      const auto c = static_cast<unsigned char>(ch);
      if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
        out.push_back(ch);
      } else {
        out.push_back('%');
        out.push_back(kHex[c >> 4U]);
        out.push_back(kHex[c & 15U]);
      }
    }
    return out;
  }
  [[nodiscard]] std::string named(std::string_view what) const {
    return fmt::format("{} {}", cfg_.name_prefix, what);
  }

  // 2xx → parsed body; anything else → an error naming the call and Platform's message.
  core::Result<json> json_call(const Call& c, bool sandbox = true) {
    auto a = api_.call(c, sandbox);
    if (!a) {
      return tl::unexpected(a.error());
    }
    if (a->status < 200 || a->status >= 300) {
      return core::fail(
          core::ErrorKind::permanent, "platform-refused",
          fmt::format("{} {}: {}", c.method, strip(c.url), describe_error(a->status, a->body)));
    }
    if (a->body.empty()) {
      return json();
    }
    try {
      return json::parse(a->body);
    } catch (const json::exception& e) {
      return core::fail(
          core::ErrorKind::permanent, "platform-answer",
          fmt::format("{} {}: the answer is not JSON ({})", c.method, strip(c.url), e.what()));
    }
  }

  core::Result<json> get(const std::string& url,
                         std::vector<std::pair<std::string, std::string>> query = {},
                         std::string accept = {}) {
    Call c;
    c.url = url;
    c.query = std::move(query);
    c.accept = std::move(accept);
    return json_call(c);
  }

  core::Result<json> send(const std::string& method, const std::string& url, const json& body,
                          std::string content_type = "application/json") {
    Call c;
    c.method = method;
    c.url = url;
    c.body = body.is_null() ? std::string() : body.dump();
    c.content_type = std::move(content_type);
    return json_call(c);
  }

  // Every item of a Flow Service list, following continuation tokens.
  core::Result<std::vector<json>> flow_list(
      const std::string& kind, std::vector<std::pair<std::string, std::string>> query) {
    std::vector<json> out;
    for (int page = 0; page < 100; ++page) {
      auto body = get(flows("/" + kind), query);
      if (!body) {
        return tl::unexpected(body.error());
      }
      for (const auto& item : body->value("items", json::array())) {
        out.push_back(item);
      }
      const json next = body->value("_links", json::object()).value("next", json());
      const std::string href = next.is_object() ? next.value("href", "") : "";
      const auto at = href.find("continuationToken=");
      if (at == std::string::npos) {
        return out;
      }
      std::erase_if(query, [](const auto& kv) { return kv.first == "continuationToken"; });
      query.emplace_back("continuationToken", href.substr(at + 18));
    }
    return out;
  }

  std::ostream& out() { return out_; }
  Api& api() { return api_; }
  const config::PlatformApiConfig& cfg() const { return cfg_; }

 private:
  static std::string strip(const std::string& url) {
    const auto at = url.find("/data/");
    return at == std::string::npos ? url : url.substr(at);
  }
  Api& api_;
  const config::PlatformApiConfig& cfg_;
  std::ostream& out_;
};

}  // namespace bridge::provision
